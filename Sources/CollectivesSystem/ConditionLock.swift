#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A mutex with a condition variable, for threads that must sleep until some state changes.
///
/// `Synchronization.Mutex` has no condition variable; this is the small piece that adds one.
/// Waiting threads sleep in the kernel (futex), they never spin.
package final class ConditionLock: @unchecked Sendable {
    private let mutex: UnsafeMutablePointer<pthread_mutex_t>
    private let condition: UnsafeMutablePointer<pthread_cond_t>

    package init() {
        mutex = .allocate(capacity: 1)
        mutex.initialize(to: pthread_mutex_t())
        pthread_mutex_init(mutex, nil)
        condition = .allocate(capacity: 1)
        condition.initialize(to: pthread_cond_t())
        var attributes = pthread_condattr_t()
        pthread_condattr_init(&attributes)
        #if canImport(Glibc)
        pthread_condattr_setclock(&attributes, CLOCK_MONOTONIC)
        #endif
        pthread_cond_init(condition, &attributes)
        pthread_condattr_destroy(&attributes)
    }

    deinit {
        pthread_cond_destroy(condition)
        pthread_mutex_destroy(mutex)
        condition.deallocate()
        mutex.deallocate()
    }

    package func lock() { pthread_mutex_lock(mutex) }
    package func unlock() { pthread_mutex_unlock(mutex) }

    /// Runs `body` with the lock held.
    @inlinable
    package func withLock<T, E: Error>(_ body: () throws(E) -> T) throws(E) -> T {
        lock()
        defer { unlock() }
        return try body()
    }

    /// Wakes every waiting thread. Call with the lock held or not.
    package func broadcast() { pthread_cond_broadcast(condition) }

    /// Wakes one waiting thread.
    package func signal() { pthread_cond_signal(condition) }

    /// Sleeps until signalled or `deadline` passes; must be called with the lock held.
    /// Returns `false` when the deadline passed. Spurious wake-ups return `true`: re-check state.
    @discardableResult
    package func wait(until deadline: Deadline) -> Bool {
        if deadline == .never {
            pthread_cond_wait(condition, mutex)
            return true
        }
        #if canImport(Glibc)
        var ts = timespec(
            tv_sec: Int(deadline.uptimeNanoseconds / 1_000_000_000),
            tv_nsec: Int(deadline.uptimeNanoseconds % 1_000_000_000))
        return pthread_cond_timedwait(condition, mutex, &ts) != ETIMEDOUT
        #else
        let remaining = deadline.remainingSeconds
        var ts = timespec(tv_sec: Int(remaining), tv_nsec: Int((remaining - Double(Int(remaining))) * 1e9))
        return pthread_cond_timedwait_relative_np(condition, mutex, &ts) != ETIMEDOUT
        #endif
    }
}
