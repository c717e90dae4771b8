#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import CCollectivesShim

/// How a process ended.
package enum ExitStatus: Hashable, Sendable {
    case exited(Int32)
    case killed(Signal)

    /// The code a shell reports for it: the status, or 128 + the signal's number.
    package var code: Int32 {
        switch self {
        case .exited(let status): status
        case .killed(let signal): 128 + signal.number
        }
    }

    /// Whether it ended well (status 0).
    package var isSuccess: Bool { self == .exited(0) }
}

/// Where a started program's standard input comes from.
package enum StandardInput: Sendable {
    /// The launcher's own.
    case inherited
    /// `/dev/null`: it reads end of file.
    case nullDevice
    /// This descriptor (a pipe's read end).
    case descriptor(Int32)
}

/// A process this one started.
package struct ChildProcess: Hashable, Sendable {
    package let pid: Int32

    package init(pid: Int32) { self.pid = pid }

    /// Starts `command` (found on `PATH`) with `environment`, leading a process group of its own
    /// (so that stopping it stops what it started too), with no signal blocked and the stop
    /// signals and `SIGPIPE` at their defaults. Its output and error go to the descriptors
    /// given (else to this process's); with `onlyStandardStreams`, nothing else this process
    /// holds open reaches it, as under mpirun.
    package static func startInOwnGroup(
        _ command: [String], environment: [String: String], input: StandardInput = .inherited,
        output: Int32? = nil, error: Int32? = nil, onlyStandardStreams: Bool = false
    ) throws(SystemError) -> ChildProcess {
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        switch input {
        case .inherited: break
        case .nullDevice: posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
        case .descriptor(let descriptor): posix_spawn_file_actions_adddup2(&actions, descriptor, 0)
        }
        if let output { posix_spawn_file_actions_adddup2(&actions, output, 1) }
        if let error { posix_spawn_file_actions_adddup2(&actions, error, 2) }
        if onlyStandardStreams { collectives_spawn_close_from(&actions, 3) }
        return ChildProcess(pid: try spawn(command, environment: environment, actions: &actions))
    }

    /// Sends `signal` to this process; whether it could be sent.
    @discardableResult
    package func send(_ signal: Signal) -> Bool { kill(pid, signal.number) == 0 }

    /// Sends `signal` to this process's group; whether it could be sent (it cannot once the
    /// group is gone, or when the process did not lead one).
    @discardableResult
    package func sendToGroup(_ signal: Signal) -> Bool { kill(-pid, signal.number) == 0 }

    /// How it ended, once it has (reaping it); `nil` while it runs.
    package func exitStatus() -> ExitStatus? {
        var status: Int32 = 0
        guard waitpid(pid, &status, WNOHANG) == pid else { return nil }
        let signal = status & 0x7f
        return signal == 0 ? .exited((status >> 8) & 0xff) : .killed(Signal(signal))
    }

    private static func spawn(_ command: [String], environment: [String: String],
                              actions: inout posix_spawn_file_actions_t) throws(SystemError) -> Int32 {
        let arguments = command.map { strdup($0) } + [nil]
        let variables = environment.map { strdup("\($0.key)=\($0.value)") } + [nil]
        defer {
            for pointer in arguments { free(pointer) }
            for pointer in variables { free(pointer) }
        }
        var attributes = posix_spawnattr_t()
        posix_spawnattr_init(&attributes)
        defer { posix_spawnattr_destroy(&attributes) }
        var none = sigset_t(), defaults = sigset_t()
        sigemptyset(&none)
        sigemptyset(&defaults)
        for signal in [SIGINT, SIGTERM, SIGHUP, SIGPIPE] { sigaddset(&defaults, signal) }
        posix_spawnattr_setsigmask(&attributes, &none)
        posix_spawnattr_setsigdefault(&attributes, &defaults)
        posix_spawnattr_setflags(&attributes, Int16(POSIX_SPAWN_SETPGROUP | POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF))
        posix_spawnattr_setpgroup(&attributes, 0)
        var pid: pid_t = 0
        let result = posix_spawnp(&pid, command[0], &actions, &attributes, arguments, variables)
        guard result == 0 else { throw SystemError(call: "posix_spawn(\(command[0]))", errno: result) }
        return pid
    }
}
