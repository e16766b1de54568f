// The AVX-512 (F, BW, VL, DQ) kernel table; the code is kernels_avx512.inc's.
#define LUMEN_AVX512_VNNI 0
#include "backend/cpu/kernels_avx512.inc"
