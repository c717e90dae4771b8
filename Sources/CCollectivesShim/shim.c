#define _GNU_SOURCE
#include "collectives_shim.h"

#include <errno.h>
#include <time.h>
#include <unistd.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <sched.h>
#include <fcntl.h>
#include <sys/socket.h>
#include <spawn.h>
#if defined(__linux__)
#include <sys/prctl.h>
#endif
#if defined(__linux__)
#include <linux/futex.h>
#endif

int collectives_futex_wait(void *address, uint32_t expected, int64_t timeout_ns) {
#if defined(__linux__)
    struct timespec timeout;
    if (timeout_ns < 0) timeout_ns = 0;
    timeout.tv_sec = (time_t)(timeout_ns / 1000000000);
    timeout.tv_nsec = (long)(timeout_ns % 1000000000);
    // Not FUTEX_PRIVATE_FLAG: the word is in memory shared between processes.
    long result = syscall(SYS_futex, (uint32_t *)address, FUTEX_WAIT, expected, &timeout, NULL, 0);
    if (result == -1 && errno == EAGAIN) return 0;
    return (int)result;
#else
    (void)address; (void)expected; (void)timeout_ns;
    errno = ENOSYS;
    return -1;
#endif
}

int collectives_futex_wake(void *address, int count) {
#if defined(__linux__)
    return (int)syscall(SYS_futex, (uint32_t *)address, FUTEX_WAKE, count, NULL, NULL, 0);
#else
    (void)address; (void)count;
    errno = ENOSYS;
    return -1;
#endif
}

ssize_t collectives_read_process_memory(pid_t pid, void *local, const void *remote, size_t length) {
#if defined(__linux__)
    struct iovec mine = { local, length };
    struct iovec theirs = { (void *)remote, length };
    return process_vm_readv(pid, &mine, 1, &theirs, 1, 0);
#else
    (void)pid; (void)local; (void)remote; (void)length;
    errno = ENOSYS;
    return -1;
#endif
}

int collectives_available_cpus(void) {
#if defined(__linux__)
    cpu_set_t set;
    CPU_ZERO(&set);
    if (sched_getaffinity(0, sizeof(set), &set) == 0) {
        int count = CPU_COUNT(&set);
        if (count > 0) return count;
    }
#endif
    long online = sysconf(_SC_NPROCESSORS_ONLN);
    return online > 0 ? (int)online : 1;
}

int collectives_allowed_cores(int *cores, int capacity) {
    cpu_set_t set;
    CPU_ZERO(&set);
    if (sched_getaffinity(0, sizeof(set), &set) != 0) return -1;
    int count = 0;
    for (int core = 0; core < CPU_SETSIZE && count < capacity; core++) {
        if (CPU_ISSET(core, &set)) cores[count++] = core;
    }
    return count;
}

int collectives_bind_thread(int core) {
    if (core < 0 || core >= CPU_SETSIZE) { errno = EINVAL; return -1; }
    cpu_set_t set;
    CPU_ZERO(&set);
    CPU_SET(core, &set);
    return sched_setaffinity(0, sizeof(set), &set);
}

int collectives_unbind_thread(const int *cores, int count) {
    cpu_set_t set;
    CPU_ZERO(&set);
    for (int i = 0; i < count; i++) {
        if (cores[i] >= 0 && cores[i] < CPU_SETSIZE) CPU_SET(cores[i], &set);
    }
    return sched_setaffinity(0, sizeof(set), &set);
}

void collectives_yield(void) {
    sched_yield();
}

int collectives_allow_peer_reads(void) {
#if defined(__linux__) && defined(PR_SET_PTRACER)
    return prctl(PR_SET_PTRACER, PR_SET_PTRACER_ANY, 0, 0, 0);
#else
    errno = ENOSYS;
    return -1;
#endif
}

int collectives_pidfd_open(pid_t pid) {
#if defined(__linux__) && defined(SYS_pidfd_open)
    return (int)syscall(SYS_pidfd_open, pid, 0);
#else
    (void)pid;
    errno = ENOSYS;
    return -1;
#endif
}

int collectives_pipe_cloexec(int fds[2]) { return pipe2(fds, O_CLOEXEC); }

int collectives_accept_cloexec(int fd, void *address, void *length) {
    return accept4(fd, (struct sockaddr *)address, (socklen_t *)length, SOCK_CLOEXEC | SOCK_NONBLOCK);
}

int collectives_spawn_close_from(void *actions, int lowest) {
#if defined(__GLIBC__) && (__GLIBC__ > 2 || (__GLIBC__ == 2 && __GLIBC_MINOR__ >= 34))
    return posix_spawn_file_actions_addclosefrom_np((posix_spawn_file_actions_t *)actions, lowest);
#else
    (void)actions; (void)lowest;
    return ENOSYS;
#endif
}

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
