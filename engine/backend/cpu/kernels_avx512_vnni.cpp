// The AVX-512 VNNI kernel table; the code is kernels_avx512.inc's.
#define LUMEN_AVX512_VNNI 1
#include "backend/cpu/kernels_avx512.inc"
