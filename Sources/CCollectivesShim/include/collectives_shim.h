// Kernel calls Swift cannot make directly: the futex system call (syscall(2) is variadic),
// cross-memory reads, pidfds, affinity, spawn's close-from. Only CollectivesSystem imports this
// module; the atomics on shared memory are CCollectivesAtomics'.
#ifndef COLLECTIVES_SHIM_H
#define COLLECTIVES_SHIM_H

#include <stdint.h>
#include <stddef.h>
#include <sys/types.h>

#ifdef __cplusplus
extern "C" {
#endif

/// Sleeps while the 32-bit word at `address` (in shared memory) still holds `expected`, at most
/// `timeout_ns` nanoseconds. Returns 0 when woken or when the value had changed, -1 with errno set
/// otherwise (ETIMEDOUT, EINTR).
int collectives_futex_wait(void *address, uint32_t expected, int64_t timeout_ns);

/// Wakes up to `count` sleepers on the word at `address`.
int collectives_futex_wake(void *address, int count);

/// Copies `length` bytes at `remote` in process `pid` to `local` (process_vm_readv); returns the
/// bytes copied or -1 with errno set.
ssize_t collectives_read_process_memory(pid_t pid, void *local, const void *remote, size_t length);

/// Lets processes of the same user read this process's memory with process_vm_readv even
/// where Yama's ptrace_scope is 1 (prctl PR_SET_PTRACER, PR_SET_PTRACER_ANY), as OpenMPI's
/// shared-memory transport does for single-copy transfers. Returns 0, or -1 with errno set.
int collectives_allow_peer_reads(void);

/// The number of CPUs this process may run on (its affinity mask), or the online count when the
/// mask cannot be read.
int collectives_available_cpus(void);

/// The cores the calling thread may run on (its affinity mask), in order, written to `cores`
/// (at most `capacity`); returns how many, or -1 with errno set.
int collectives_allowed_cores(int *cores, int capacity);

/// Binds the calling thread to `core` alone (a process it spawns then starts there); 0, or -1
/// with errno set.
int collectives_bind_thread(int core);

/// Lets the calling thread run on `count` cores again (those ``collectives_allowed_cores`` gave);
/// 0, or -1 with errno set.
int collectives_unbind_thread(const int *cores, int count);

/// Gives up the CPU to another runnable thread (sched_yield).
void collectives_yield(void);

/// A pidfd for process `pid` (close-on-exec; readable once the process has exited), or -1 with
/// errno set (ESRCH: no such process; ENOSYS: a kernel before 5.3).
int collectives_pidfd_open(pid_t pid);

/// accept4(fd, address, length, SOCK_CLOEXEC | SOCK_NONBLOCK).
int collectives_accept_cloexec(int fd, void *address, void *length);

/// Adds "close every descriptor from `lowest` on" to posix_spawn file actions
/// (posix_spawn_file_actions_addclosefrom_np, glibc 2.34); returns its result, or ENOSYS where
/// the C library lacks it.
int collectives_spawn_close_from(void *actions, int lowest);

/// pipe2(fds, O_CLOEXEC): a pipe whose ends no spawned process inherits unless it dup2s them.
int collectives_pipe_cloexec(int fds[2]);

#ifdef __cplusplus
}
#endif

#endif
