import Synchronization

#if canImport(Glibc)
import Glibc
#endif

/// `SIGUSR1` as a request to write diagnostics (a flight recorder's dump), as `kill -USR1 PID`
/// asks a rank that seems to hang.
///
/// The handler only writes a byte to a pipe (async-signal-safe); a thread of its own reads the
/// pipe and runs the action there, where it may take locks, allocate and write files.
package enum DumpSignal {
    /// The pipe's write end, for the handler; -1 until installed.
    private static let writeEnd = Atomic<Int32>(-1)
    private static let installation = LockedValue<Bool>(false)

    /// Installs the handler once per process, when `SIGUSR1` still has its default action (a
    /// program's own handler is left alone). `action` runs on a dedicated thread each time the
    /// signal arrives. Returns whether the handler is installed (now or before).
    @discardableResult
    package static func install(_ action: @escaping @Sendable () -> Void) -> Bool {
        installation.withLock { installed in
            if installed { return true }
            var current = sigaction()
            guard sigaction(SIGUSR1, nil, &current) == 0, current.__sigaction_handler.sa_handler == nil else { return false }
            guard let pipe = try? Pipe.make() else { return false }
            let readEnd = pipe.readEnd
            guard (try? SystemThread(starting: "collectives-dump-signal", { watch(readEnd, action) })) != nil else {
                pipe.close()
                return false
            }
            writeEnd.store(pipe.writeEnd, ordering: .sequentiallyConsistent)
            var handler = sigaction()
            handler.__sigaction_handler.sa_handler = { _ in
                var byte: UInt8 = 1
                let saved = errno
                _ = write(DumpSignal.writeEnd.load(ordering: .relaxed), &byte, 1)
                errno = saved
            }
            handler.sa_flags = SA_RESTART
            sigemptyset(&handler.sa_mask)
            guard sigaction(SIGUSR1, &handler, nil) == 0 else { return false }
            installed = true
            return true
        }
    }

    /// Runs `action` once for every byte the handler writes; ends if the pipe fails.
    private static func watch(_ readEnd: Int32, _ action: @Sendable () -> Void) {
        var buffer = [UInt8](repeating: 0, count: 16)
        while true {
            let n = read(readEnd, &buffer, buffer.count)
            if n > 0 {
                action()
            } else if n < 0 && errno == EINTR {
                continue
            } else {
                return
            }
        }
    }
}
