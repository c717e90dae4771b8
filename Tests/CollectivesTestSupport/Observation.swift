#if canImport(Glibc)
import Glibc
#endif
import CollectivesSystem
import Synchronization

/// Waits until `count()` (a gauge of parked waiters) reaches `atLeast`, for at most 20 s, so that
/// a test wakes a waiter only once it is parked and the wake-up it names is the path that runs.
/// Returns whether it got there.
package func awaitParked(atLeast: Int = 1, _ count: () -> Int) -> Bool {
    let deadline = Deadline.after(seconds: 20)
    while count() < atLeast {
        if deadline.hasPassed { return false }
        sched_yield()
    }
    return true
}

/// Runs `body` on a thread of its own while the calling thread calls `step` over and over (the
/// progress engine of a transport that failed, say, as a wait on other traffic would run it);
/// returns what `body` returned once it has.
package func whileStepping<T: Sendable>(_ step: () -> Void, _ body: @escaping @Sendable () -> T) -> T {
    let result = Locked<T?>(nil)
    let thread = SystemThread(name: "stepped") {
        let value = body()
        result.withLock { $0 = value }
    }
    while result.withLock({ $0 == nil }) {
        step()
        sched_yield()
    }
    thread.join()
    return result.withLock { $0! }
}

/// A child process that has exited but is not reaped yet, so that its pid stays its own (a
/// pidfd opened on it is readable: the process has ended). Reaped on ``reap()``.
package final class ExitedProcess: @unchecked Sendable {
    package let pid: pid_t
    private var reaped = false

    /// Starts `/bin/true` and waits until it has exited.
    package init() throws(SystemError) {
        var child: pid_t = 0
        let path = strdup("/bin/true")
        defer { free(path) }
        var arguments: [UnsafeMutablePointer<CChar>?] = [path, nil]
        let status = posix_spawn(&child, "/bin/true", nil, nil, &arguments, environ)
        guard status == 0 else { throw SystemError(call: "posix_spawn", errno: status) }
        pid = child
        var info = siginfo_t()
        while waitid(P_PID, id_t(child), &info, WEXITED | WNOWAIT) != 0 {
            guard errno == EINTR else { throw SystemError(call: "waitid", errno: errno) }
        }
    }

    package func reap() {
        guard !reaped else { return }
        reaped = true
        var status: Int32 = 0
        while waitpid(pid, &status, 0) < 0 && errno == EINTR {}
    }

    deinit { reap() }
}
