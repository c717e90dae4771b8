// Atomics on memory shared between processes (C11 atomics through the compiler's builtins),
// which Swift's `Atomic` cannot be placed in: static inline, so that they compile into the
// caller's loop. No system calls here: those are CCollectivesShim's, behind CollectivesSystem.
#ifndef COLLECTIVES_ATOMICS_H
#define COLLECTIVES_ATOMICS_H

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

static inline uint64_t collectives_load_acquire_u64(const void *address) {
    return __atomic_load_n((const uint64_t *)address, __ATOMIC_ACQUIRE);
}

static inline void collectives_store_release_u64(void *address, uint64_t value) {
    __atomic_store_n((uint64_t *)address, value, __ATOMIC_RELEASE);
}

static inline uint64_t collectives_load_relaxed_u64(const void *address) {
    return __atomic_load_n((const uint64_t *)address, __ATOMIC_RELAXED);
}

static inline void collectives_store_relaxed_u64(void *address, uint64_t value) {
    __atomic_store_n((uint64_t *)address, value, __ATOMIC_RELAXED);
}

static inline uint32_t collectives_load_u32(const void *address) {
    return __atomic_load_n((const uint32_t *)address, __ATOMIC_SEQ_CST);
}

static inline void collectives_store_u32(void *address, uint32_t value) {
    __atomic_store_n((uint32_t *)address, value, __ATOMIC_SEQ_CST);
}

static inline uint32_t collectives_fetch_add_u32(void *address, uint32_t value) {
    return __atomic_fetch_add((uint32_t *)address, value, __ATOMIC_SEQ_CST);
}

static inline void collectives_pause(void) {
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#elif defined(__aarch64__)
    __asm__ __volatile__("yield");
#endif
}

/// A full memory barrier (orders a store before a later load, which release/acquire does not).
static inline void collectives_fence(void) {
    __atomic_thread_fence(__ATOMIC_SEQ_CST);
}

#ifdef __cplusplus
}
#endif

#endif
