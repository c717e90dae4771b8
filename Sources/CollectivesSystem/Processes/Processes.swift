#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import CCollectivesShim

/// Other processes on this host: whether one exists, a handle that says when it exits, its
/// memory read directly.
package enum Processes {
    /// Whether a process `pid` exists (one that exists but is not ours to signal counts).
    package static func exists(_ pid: Int32) -> Bool { kill(pid, 0) == 0 || errno != ESRCH }

    /// Ends this process at once with `SIGKILL`, as a crash would (fault-injection tests).
    package static func killThisProcess() -> Never {
        kill(getpid(), SIGKILL)
        fatalError("SIGKILL did not end the process")
    }

    /// Reads `count` bytes at `remote` in process `pid` into `local` (`process_vm_readv`),
    /// retrying on `EINTR`; returns the bytes read, fewer only at the end of a mapping.
    @inlinable
    package static func readMemory(of pid: Int32, at remote: UnsafeRawPointer?, into local: UnsafeMutableRawPointer,
                                   count: Int) throws(SystemError) -> Int {
        try systemCallBlocking("process_vm_readv") { collectives_read_process_memory(pid, local, remote, count) }
    }
}

/// A process watched through a `pidfd`, so that its exit is seen even if its number is reused.
package final class ProcessWatch: @unchecked Sendable {
    private let descriptor: Int32

    /// Watches `pid`; `nil` where the kernel has no pidfds (before Linux 5.3) or the process has
    /// already exited (``Processes/exists(_:)`` then says which).
    package init?(_ pid: Int32) {
        descriptor = collectives_pidfd_open(pid)
        if descriptor < 0 { return nil }
    }

    deinit { close(descriptor) }

    /// Whether the process is still running.
    package var isAlive: Bool { !isReadableNow(descriptor) }
}
