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

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
