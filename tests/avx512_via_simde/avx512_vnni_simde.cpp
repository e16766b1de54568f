// kernels_avx512.inc (VNNI) through SIMDe's portable AVX-512: lumen::cpu::avx512_vnni_simde::kernels().
#define LUMEN_AVX512_VIA_SIMDE 1
#define LUMEN_AVX512_VNNI 1
#include "backend/cpu/kernels_avx512.inc"
