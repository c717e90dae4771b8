import CCollectivesShim

/// Sleeping on a 32-bit word in shared memory until another process changes it (futexes).
package enum Futex {
    /// Sleeps while the word at `address` holds `expected`, at most `timeoutNanoseconds`;
    /// returns at once if it holds something else. A wake, a timeout and a signal all return.
    package static func wait(on address: UnsafeMutableRawPointer, whileItHolds expected: UInt32, timeoutNanoseconds: Int64) {
        _ = collectives_futex_wait(address, expected, timeoutNanoseconds)
    }

    /// Wakes every sleeper on the word at `address`.
    package static func wakeAll(on address: UnsafeMutableRawPointer) {
        _ = collectives_futex_wake(address, Int32.max)
    }
}

/// The processor's and the scheduler's side of waiting.
package enum Scheduler {
    /// Gives the CPU to another runnable thread (`sched_yield`).
    package static func yield() { collectives_yield() }

    /// The CPUs this process may run on (its affinity mask), or the online count when the mask
    /// cannot be read.
    package static var availableCores: Int { Int(collectives_available_cpus()) }

    /// Lets processes of the same user read this process's memory with `process_vm_readv` even
    /// where Yama's `ptrace_scope` is 1 (as OpenMPI's shared-memory transport does for single-copy
    /// transfers); whether that worked.
    @discardableResult
    package static func allowPeersToReadMemory() -> Bool { collectives_allow_peer_reads() == 0 }
}
