// Half-precision (IEEE binary16) reductions with the CPU's conversion instructions (x86-64
// F16C), and stand-ins elsewhere (collectives_f16_accelerated() then returns 0).
#include "collectives_kernels.h"

// MARK: Half precision

#if defined(__x86_64__)
#include <immintrin.h>
#include <string.h>

int collectives_f16_accelerated(void) {
    __builtin_cpu_init();
    return __builtin_cpu_supports("avx") && __builtin_cpu_supports("f16c");
}

// Each operation is a block of eight halves (its bits in, its bits out); one driver runs it over
// the buffer, the last few elements through a zero-padded block of eight.
#define COLLECTIVES_F16_DRIVER(name)                                                                 \
    __attribute__((target("avx,f16c")))                                                              \
    void name(uint16_t *d, const uint16_t *s, size_t n) {                                           \
        size_t i = 0;                                                                                \
        for (; i + 8 <= n; i += 8) {                                                                 \
            __m128i a = _mm_loadu_si128((const __m128i *)(d + i));                                   \
            __m128i b = _mm_loadu_si128((const __m128i *)(s + i));                                   \
            _mm_storeu_si128((__m128i *)(d + i), name##_block(a, b));                                \
        }                                                                                            \
        if (i < n) {                                                                                 \
            uint16_t x[8] = {0}, y[8] = {0};                                                         \
            memcpy(x, d + i, (n - i) * 2);                                                           \
            memcpy(y, s + i, (n - i) * 2);                                                           \
            __m128i r = name##_block(_mm_loadu_si128((const __m128i *)x), _mm_loadu_si128((const __m128i *)y)); \
            _mm_storeu_si128((__m128i *)x, r);                                                       \
            memcpy(d + i, x, (n - i) * 2);                                                           \
        }                                                                                            \
    }

// Arithmetic: widen, combine in float, narrow to nearest-even.
#define COLLECTIVES_F16_ARITHMETIC(name, combine)                                                    \
    __attribute__((target("avx,f16c")))                                                              \
    static inline __m128i name##_block(__m128i a16, __m128i b16) {                                   \
        return _mm256_cvtps_ph(combine(_mm256_cvtph_ps(a16), _mm256_cvtph_ps(b16)), _MM_FROUND_TO_NEAREST_INT); \
    }                                                                                                \
    COLLECTIVES_F16_DRIVER(name)

// min and max keep the original bits of the element chosen (NaN payloads, zeros' signs): the
// comparison is made on the widened values, its mask narrowed to 16-bit lanes, and the halves
// blended. As Swift's `b < a ? b : a` (min) and `b > a ? b : a` (max): equal or unordered keeps a.
#define COLLECTIVES_F16_SELECT(name, predicate)                                                       \
    __attribute__((target("avx,f16c")))                                                              \
    static inline __m128i name##_block(__m128i a16, __m128i b16) {                                   \
        __m256 mask = _mm256_cmp_ps(_mm256_cvtph_ps(b16), _mm256_cvtph_ps(a16), predicate);         \
        __m256i wide = _mm256_castps_si256(mask);                                                    \
        __m128i narrow = _mm_packs_epi32(_mm256_castsi256_si128(wide), _mm256_extractf128_si256(wide, 1)); \
        return _mm_blendv_epi8(a16, b16, narrow);                                                    \
    }                                                                                                \
    COLLECTIVES_F16_DRIVER(name)

COLLECTIVES_F16_ARITHMETIC(collectives_f16_sum, _mm256_add_ps)
COLLECTIVES_F16_ARITHMETIC(collectives_f16_product, _mm256_mul_ps)
COLLECTIVES_F16_SELECT(collectives_f16_minimum, _CMP_LT_OQ)
COLLECTIVES_F16_SELECT(collectives_f16_maximum, _CMP_GT_OQ)

__attribute__((target("avx,f16c")))
void collectives_f16_divide(uint16_t *d, size_t n, float divisor) {
    __m256 by = _mm256_set1_ps(divisor);
    size_t i = 0;
    for (; i + 8 <= n; i += 8) {
        __m256 a = _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(d + i)));
        _mm_storeu_si128((__m128i *)(d + i), _mm256_cvtps_ph(_mm256_div_ps(a, by), _MM_FROUND_TO_NEAREST_INT));
    }
    if (i < n) {
        uint16_t x[8] = {0};
        memcpy(x, d + i, (n - i) * 2);
        __m256 a = _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)x));
        _mm_storeu_si128((__m128i *)x, _mm256_cvtps_ph(_mm256_div_ps(a, by), _MM_FROUND_TO_NEAREST_INT));
        memcpy(d + i, x, (n - i) * 2);
    }
}

__attribute__((target("avx,f16c")))
void collectives_f16_from_floats(uint16_t *d, const float *s, size_t n) {
    size_t i = 0;
    for (; i + 8 <= n; i += 8) {
        _mm_storeu_si128((__m128i *)(d + i), _mm256_cvtps_ph(_mm256_loadu_ps(s + i), _MM_FROUND_TO_NEAREST_INT));
    }
    if (i < n) {
        float x[8] = {0};
        uint16_t y[8];
        memcpy(x, s + i, (n - i) * sizeof(float));
        _mm_storeu_si128((__m128i *)y, _mm256_cvtps_ph(_mm256_loadu_ps(x), _MM_FROUND_TO_NEAREST_INT));
        memcpy(d + i, y, (n - i) * 2);
    }
}

__attribute__((target("avx,f16c")))
void collectives_f16_to_floats(float *d, const uint16_t *s, size_t n) {
    size_t i = 0;
    for (; i + 8 <= n; i += 8) {
        _mm256_storeu_ps(d + i, _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(s + i))));
    }
    if (i < n) {
        uint16_t x[8] = {0};
        float y[8];
        memcpy(x, s + i, (n - i) * 2);
        _mm256_storeu_ps(y, _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)x)));
        memcpy(d + i, y, (n - i) * sizeof(float));
    }
}
#else
int collectives_f16_accelerated(void) { return 0; }
void collectives_f16_from_floats(uint16_t *d, const float *s, size_t n) { (void)d; (void)s; (void)n; }
void collectives_f16_to_floats(float *d, const uint16_t *s, size_t n) { (void)d; (void)s; (void)n; }
void collectives_f16_sum(uint16_t *d, const uint16_t *s, size_t n) { (void)d; (void)s; (void)n; }
void collectives_f16_product(uint16_t *d, const uint16_t *s, size_t n) { (void)d; (void)s; (void)n; }
void collectives_f16_divide(uint16_t *d, size_t n, float divisor) { (void)d; (void)n; (void)divisor; }
void collectives_f16_minimum(uint16_t *d, const uint16_t *s, size_t n) { (void)d; (void)s; (void)n; }
void collectives_f16_maximum(uint16_t *d, const uint16_t *s, size_t n) { (void)d; (void)s; (void)n; }
#endif
