// bfloat16 reductions: each element is widened to float (a shift), combined in float, and
// rounded back to nearest-even, quieting NaNs. Plain loops without branches, so that the
// compiler vectorizes them for whatever vector unit the target has.
#include "collectives_shim.h"
#include <string.h>

static inline float bf16_widen(uint16_t h) {
    uint32_t bits = (uint32_t)h << 16;
    float f;
    memcpy(&f, &bits, sizeof f);
    return f;
}

static inline uint16_t bf16_round(float f) {
    uint32_t bits;
    memcpy(&bits, &f, sizeof bits);
    uint32_t rounded = (bits + 0x7fffu + ((bits >> 16) & 1u)) >> 16;
    uint32_t quiet = (bits >> 16) | 0x40u;
    return (uint16_t)((bits & 0x7fffffffu) > 0x7f800000u ? quiet : rounded);
}

uint16_t collectives_bf16_from_float(float value) { return bf16_round(value); }
float collectives_bf16_to_float(uint16_t value) { return bf16_widen(value); }

#define COLLECTIVES_BF16_LOOP(name, expression)                                         \
    void name(uint16_t *restrict d, const uint16_t *restrict s, size_t n) {             \
        for (size_t i = 0; i < n; i++) {                                                \
            float a = bf16_widen(d[i]), b = bf16_widen(s[i]);                           \
            d[i] = bf16_round(expression);                                              \
        }                                                                               \
    }

COLLECTIVES_BF16_LOOP(collectives_bf16_sum, a + b)
COLLECTIVES_BF16_LOOP(collectives_bf16_product, a * b)
COLLECTIVES_BF16_LOOP(collectives_bf16_minimum, b < a ? b : a)
COLLECTIVES_BF16_LOOP(collectives_bf16_maximum, b > a ? b : a)

void collectives_bf16_divide(uint16_t *restrict d, size_t n, float divisor) {
    for (size_t i = 0; i < n; i++) d[i] = bf16_round(bf16_widen(d[i]) / divisor);
}

void collectives_bf16_from_floats(uint16_t *restrict d, const float *restrict s, size_t n) {
    for (size_t i = 0; i < n; i++) d[i] = bf16_round(s[i]);
}

void collectives_bf16_to_floats(float *restrict d, const uint16_t *restrict s, size_t n) {
    for (size_t i = 0; i < n; i++) d[i] = bf16_widen(s[i]);
}
