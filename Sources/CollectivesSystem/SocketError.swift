/// Why a socket operation failed.
public enum SocketError: Error, Sendable, Hashable, CustomStringConvertible {
    /// A system call failed.
    case system(SystemError)
    /// The deadline passed before `operation` finished.
    case timedOut(operation: String, remote: String?)
    /// The other end closed the connection in the middle of `operation`.
    case closedByPeer(operation: String, remote: String?)

    public var description: String {
        switch self {
        case .system(let error):
            return error.description
        case .timedOut(let operation, let remote):
            return "\(operation)\(remote.map { " with \($0)" } ?? ""): timed out"
        case .closedByPeer(let operation, let remote):
            return "\(operation)\(remote.map { " with \($0)" } ?? ""): connection closed by peer"
        }
    }

    /// Whether the error says the peer went away (closed, reset or unreachable).
    public var isPeerGone: Bool {
        switch self {
        case .closedByPeer: return true
        case .system(let e): return [ECONNRESET, EPIPE, ECONNREFUSED, ECONNABORTED, EHOSTUNREACH, ENETUNREACH].contains(e.errno)
        case .timedOut: return false
        }
    }
}

extension SystemError {
    /// Whether a failed `connect` may succeed if tried again: refused (nobody listens yet),
    /// reset, timed out or unreachable (a route or a peer that is still coming up).
    package var mayConnectLater: Bool {
        [ECONNREFUSED, ECONNRESET, ETIMEDOUT, EHOSTUNREACH, ENETUNREACH].contains(errno)
    }

    /// Whether a `connect` to a peer that is listening failed only for now: refused or reset (a
    /// listener whose queue is full), out of ports for the moment, or unanswered.
    package var isRefusedForNow: Bool { [ECONNREFUSED, ECONNRESET, EAGAIN, ETIMEDOUT].contains(errno) }

    /// Whether the connection was dropped under the call (reset, or written after the peer closed).
    package var isConnectionDropped: Bool { errno == ECONNRESET || errno == EPIPE }

    /// Whether a `bind` failed because the address is not one of this host's.
    package var isAddressOfAnotherHost: Bool { errno == EADDRNOTAVAIL }
}

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
