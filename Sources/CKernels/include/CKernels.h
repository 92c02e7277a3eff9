// CKernels: SIMD inner loops that Swift cannot make fast (quantized dot products).
// Each function has a scalar reference in Swift (Kernels) that tests compare against.
#pragma once
#include <stdint.h>
#include <stddef.h>

// Returns non-zero when the running CPU has AVX2, FMA and F16C.
int hayai_cpu_has_avx2(void);
