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
