#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A signal, by number, with the name `kill -l` gives it.
package struct Signal: Hashable, Sendable, CustomStringConvertible {
    package let number: Int32

    package init(_ number: Int32) { self.number = number }

    package static let interrupt = Signal(SIGINT)
    package static let terminate = Signal(SIGTERM)
    package static let kill = Signal(SIGKILL)
    package static let hangUp = Signal(SIGHUP)
    package static let brokenPipe = Signal(SIGPIPE)
    /// `SIGUSR1`: asks a rank for its flight recorder.
    package static let flightRecorderRequest = Signal(SIGUSR1)

    /// `SIGINT`, `SIGSEGV`, …, or `signal N` for one without a common name.
    package var name: String {
        switch number {
        case SIGINT: "SIGINT"
        case SIGTERM: "SIGTERM"
        case SIGKILL: "SIGKILL"
        case SIGSEGV: "SIGSEGV"
        case SIGABRT: "SIGABRT"
        case SIGILL: "SIGILL"
        case SIGBUS: "SIGBUS"
        case SIGFPE: "SIGFPE"
        case SIGHUP: "SIGHUP"
        case SIGPIPE: "SIGPIPE"
        case SIGTRAP: "SIGTRAP"
        case SIGUSR1: "SIGUSR1"
        default: "signal \(number)"
        }
    }

    package var description: String { name }
}

/// How a launcher takes the signals sent to it.
package enum LauncherSignals {
    /// Calls `stop` for `SIGINT`, `SIGTERM` and `SIGHUP` and `flightRecorderRequest` for
    /// `SIGUSR1` (each with the signal's number, in the signal handler: it may only store to an
    /// atomic), ignores `SIGPIPE` (a closed output is an error, not the end), and unblocks the
    /// four, which a parent may have blocked (signal masks survive `exec`).
    package static func install(stop: @convention(c) (Int32) -> Void, flightRecorderRequest: @convention(c) (Int32) -> Void) {
        for signal in [SIGINT, SIGTERM, SIGHUP] { _ = Glibc.signal(signal, stop) }
        _ = Glibc.signal(SIGUSR1, flightRecorderRequest)
        _ = Glibc.signal(SIGPIPE, SIG_IGN)
        var handled = sigset_t()
        sigemptyset(&handled)
        for signal in [SIGINT, SIGTERM, SIGHUP, SIGUSR1] { sigaddset(&handled, signal) }
        pthread_sigmask(SIG_UNBLOCK, &handled, nil)
    }
}
