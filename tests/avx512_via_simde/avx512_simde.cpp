// kernels_avx512.inc through SIMDe's portable AVX-512: lumen::cpu::avx512_simde::kernels().
#define LUMEN_AVX512_VIA_SIMDE 1
#define LUMEN_AVX512_VNNI 0
#include "backend/cpu/kernels_avx512.inc"
