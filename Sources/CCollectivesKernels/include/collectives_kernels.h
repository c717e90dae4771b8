// Reduction kernels in C for the 16-bit floating-point types, which Swift cannot vectorize as
// well: half precision with the CPU's conversion instructions, bfloat16 on any CPU. Each element
// is widened to float, combined, and rounded back to nearest-even.
#ifndef COLLECTIVES_KERNELS_H
#define COLLECTIVES_KERNELS_H

#include <stdint.h>
#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

/// Half-precision (IEEE binary16) reductions with the CPU's conversion instructions (x86-64 F16C):
/// each element is widened to float, combined, and rounded back to nearest-even, which gives the
/// same bits as Swift's Float16 arithmetic (float has more than 2 × 11 + 2 significand bits).
/// Call only when collectives_f16_accelerated() returns 1.
int collectives_f16_accelerated(void);
void collectives_f16_sum(uint16_t *destination, const uint16_t *source, size_t count);
void collectives_f16_product(uint16_t *destination, const uint16_t *source, size_t count);
void collectives_f16_divide(uint16_t *destination, size_t count, float divisor);
void collectives_f16_minimum(uint16_t *destination, const uint16_t *source, size_t count);
void collectives_f16_maximum(uint16_t *destination, const uint16_t *source, size_t count);
void collectives_f16_from_floats(uint16_t *destination, const float *source, size_t count);
void collectives_f16_to_floats(float *destination, const uint16_t *source, size_t count);

/// bfloat16 (the top half of an IEEE binary32) conversions and reductions, on any CPU: each
/// element is widened to float, combined, and rounded back to nearest-even (NaNs stay NaN).
void collectives_bf16_sum(uint16_t *destination, const uint16_t *source, size_t count);
void collectives_bf16_product(uint16_t *destination, const uint16_t *source, size_t count);
void collectives_bf16_minimum(uint16_t *destination, const uint16_t *source, size_t count);
void collectives_bf16_maximum(uint16_t *destination, const uint16_t *source, size_t count);
void collectives_bf16_divide(uint16_t *destination, size_t count, float divisor);
void collectives_bf16_from_floats(uint16_t *destination, const float *source, size_t count);
void collectives_bf16_to_floats(float *destination, const uint16_t *source, size_t count);

#ifdef __cplusplus
}
#endif

#endif
