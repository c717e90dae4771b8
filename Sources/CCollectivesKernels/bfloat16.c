// bfloat16 reductions: each element is widened to float (a shift), combined in float, and
// rounded back to nearest-even, quieting NaNs. Plain loops without branches, which the compiler
// vectorizes; on x86-64 a second copy is compiled for AVX2 (eight lanes, and a pack of 32-bit
// lanes to 16 that SSE2 lacks) and chosen at run time where the CPU has it.
#include "collectives_kernels.h"
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

#define COLLECTIVES_BF16_LOOP(name, attributes, expression)                             \
    attributes static void name(uint16_t *restrict d, const uint16_t *restrict s, size_t n) { \
        for (size_t i = 0; i < n; i++) {                                                \
            float a = bf16_widen(d[i]), b = bf16_widen(s[i]);                           \
            d[i] = bf16_round(expression);                                              \
        }                                                                               \
    }

#define COLLECTIVES_BF16_ELEMENTWISE(suffix, attributes)                                 \
    COLLECTIVES_BF16_LOOP(sum_##suffix, attributes, a + b)                               \
    COLLECTIVES_BF16_LOOP(product_##suffix, attributes, a * b)                           \
    COLLECTIVES_BF16_LOOP(minimum_##suffix, attributes, b < a ? b : a)                   \
    COLLECTIVES_BF16_LOOP(maximum_##suffix, attributes, b > a ? b : a)

#define COLLECTIVES_BF16_CONVERSIONS(suffix, attributes)                                 \
    attributes static void divide_##suffix(uint16_t *restrict d, size_t n, float divisor) { \
        for (size_t i = 0; i < n; i++) d[i] = bf16_round(bf16_widen(d[i]) / divisor);   \
    }                                                                                   \
    attributes static void from_floats_##suffix(uint16_t *restrict d, const float *restrict s, size_t n) { \
        for (size_t i = 0; i < n; i++) d[i] = bf16_round(s[i]);                         \
    }                                                                                   \
    attributes static void to_floats_##suffix(float *restrict d, const uint16_t *restrict s, size_t n) { \
        for (size_t i = 0; i < n; i++) d[i] = bf16_widen(s[i]);                         \
    }

COLLECTIVES_BF16_ELEMENTWISE(generic, )
COLLECTIVES_BF16_CONVERSIONS(generic, )

#if defined(__x86_64__)
#include <immintrin.h>
COLLECTIVES_BF16_CONVERSIONS(avx2, __attribute__((target("avx2"))))

// The element-wise operations by hand, sixteen elements at a time: unpacking each 128-bit half
// against zero widens elements 0-3 and 8-11 (low) and 4-7 and 12-15 (high) into floats, and
// packing the two rounded halves back restores the order, so no lane crossing is needed.
__attribute__((target("avx2"))) static inline __m256i bf16_round8_finite(__m256 f) {
    const __m256i bits = _mm256_castps_si256(f);
    const __m256i lsb = _mm256_and_si256(_mm256_srli_epi32(bits, 16), _mm256_set1_epi32(1));
    return _mm256_srli_epi32(_mm256_add_epi32(_mm256_add_epi32(bits, _mm256_set1_epi32(0x7fff)), lsb), 16);
}

__attribute__((target("avx2"))) static inline __m256i bf16_round8(__m256 f) {
    const __m256i bits = _mm256_castps_si256(f);
    const __m256i high = _mm256_srli_epi32(bits, 16);
    const __m256i lsb = _mm256_and_si256(high, _mm256_set1_epi32(1));
    const __m256i rounded = _mm256_srli_epi32(_mm256_add_epi32(_mm256_add_epi32(bits, _mm256_set1_epi32(0x7fff)), lsb), 16);
    const __m256i quiet = _mm256_or_si256(high, _mm256_set1_epi32(0x40));
    const __m256i nan = _mm256_castps_si256(_mm256_cmp_ps(f, f, _CMP_UNORD_Q));
    return _mm256_blendv_epi8(rounded, quiet, nan);
}

#define COLLECTIVES_BF16_AVX2(name, combine, tail)                                               \
    __attribute__((target("avx2"))) static void name##_avx2_vector(uint16_t *d, const uint16_t *s, size_t n) { \
        const __m256i zero = _mm256_setzero_si256();                                             \
        size_t i = 0;                                                                            \
        _Pragma("clang loop unroll_count(2)")                                                    \
        for (; i + 16 <= n; i += 16) {                                                           \
            const __m256i x = _mm256_loadu_si256((const __m256i *)(d + i));                      \
            const __m256i y = _mm256_loadu_si256((const __m256i *)(s + i));                      \
            const __m256 a0 = _mm256_castsi256_ps(_mm256_unpacklo_epi16(zero, x));              \
            const __m256 a1 = _mm256_castsi256_ps(_mm256_unpackhi_epi16(zero, x));              \
            const __m256 b0 = _mm256_castsi256_ps(_mm256_unpacklo_epi16(zero, y));              \
            const __m256 b1 = _mm256_castsi256_ps(_mm256_unpackhi_epi16(zero, y));              \
            const __m256 r0 = combine(a0, b0), r1 = combine(a1, b1);                             \
            const __m256 unordered = _mm256_or_ps(_mm256_cmp_ps(r0, r0, _CMP_UNORD_Q), _mm256_cmp_ps(r1, r1, _CMP_UNORD_Q)); \
            const __m256i r = _mm256_movemask_ps(unordered) == 0                                 \
                ? _mm256_packus_epi32(bf16_round8_finite(r0), bf16_round8_finite(r1))            \
                : _mm256_packus_epi32(bf16_round8(r0), bf16_round8(r1));                         \
            _mm256_storeu_si256((__m256i *)(d + i), r);                                          \
        }                                                                                        \
        tail(d + i, s + i, n - i);                                                               \
    }

// Minimum and maximum as the scalar loops choose: the source element where it compares below
// (above) the destination's, else the destination's (a NaN on either side keeps the destination).
__attribute__((target("avx2"))) static inline __m256 bf16_min8(__m256 a, __m256 b) {
    return _mm256_blendv_ps(a, b, _mm256_cmp_ps(b, a, _CMP_LT_OQ));
}
__attribute__((target("avx2"))) static inline __m256 bf16_max8(__m256 a, __m256 b) {
    return _mm256_blendv_ps(a, b, _mm256_cmp_ps(b, a, _CMP_GT_OQ));
}

COLLECTIVES_BF16_AVX2(sum, _mm256_add_ps, sum_generic)
COLLECTIVES_BF16_AVX2(product, _mm256_mul_ps, product_generic)
COLLECTIVES_BF16_AVX2(minimum, bf16_min8, minimum_generic)
COLLECTIVES_BF16_AVX2(maximum, bf16_max8, maximum_generic)

#define COLLECTIVES_BF16_CHOOSE(name, ...) \
    if (__builtin_cpu_supports("avx2")) name##_avx2(__VA_ARGS__); else name##_generic(__VA_ARGS__)
#define COLLECTIVES_BF16_CHOOSE_VECTOR(name, ...) \
    if (__builtin_cpu_supports("avx2")) name##_avx2_vector(__VA_ARGS__); else name##_generic(__VA_ARGS__)
#else
#define COLLECTIVES_BF16_CHOOSE(name, ...) name##_generic(__VA_ARGS__)
#define COLLECTIVES_BF16_CHOOSE_VECTOR(name, ...) name##_generic(__VA_ARGS__)
#endif

void collectives_bf16_sum(uint16_t *d, const uint16_t *s, size_t n) { COLLECTIVES_BF16_CHOOSE_VECTOR(sum, d, s, n); }
void collectives_bf16_product(uint16_t *d, const uint16_t *s, size_t n) { COLLECTIVES_BF16_CHOOSE_VECTOR(product, d, s, n); }
void collectives_bf16_minimum(uint16_t *d, const uint16_t *s, size_t n) { COLLECTIVES_BF16_CHOOSE_VECTOR(minimum, d, s, n); }
void collectives_bf16_maximum(uint16_t *d, const uint16_t *s, size_t n) { COLLECTIVES_BF16_CHOOSE_VECTOR(maximum, d, s, n); }
void collectives_bf16_divide(uint16_t *d, size_t n, float divisor) { COLLECTIVES_BF16_CHOOSE(divide, d, n, divisor); }
void collectives_bf16_from_floats(uint16_t *d, const float *s, size_t n) { COLLECTIVES_BF16_CHOOSE(from_floats, d, s, n); }
void collectives_bf16_to_floats(float *d, const uint16_t *s, size_t n) { COLLECTIVES_BF16_CHOOSE(to_floats, d, s, n); }
