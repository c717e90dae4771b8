#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A failed system call: which call, the `errno` it set, and (where there is one) the remote
/// address involved.
///
/// Its description reads like `connect(10.0.0.2:29500): Connection refused (errno 111)`.
public struct SystemError: Error, Sendable, Hashable, CustomStringConvertible {
    /// The name of the system call, for example `"connect"`.
    public let call: String
    /// The `errno` value.
    public let errno: Int32
    /// The remote end, when the call concerned one.
    public let remote: String?

    public init(call: String, errno: Int32, remote: String? = nil) {
        self.call = call
        self.errno = errno
        self.remote = remote
    }

    /// The C library's text for `errno`.
    public var message: String { String(cString: strerror(errno)) }

    public var description: String {
        let what = remote.map { "\(call)(\($0))" } ?? call
        return "\(what): \(message) (errno \(errno))"
    }
}

/// The value of `errno` right now.
@inlinable
package var currentErrno: Int32 { errno }

/// The outcome of a non-blocking system call: done (with its result) or would block.
@usableFromInline package enum IOResult<Value: Sendable>: Sendable {
    case done(Value)
    case wouldBlock
}

/// Runs a system call, retrying on `EINTR`, and turns failure into a ``SystemError`` naming it.
///
/// A result of -1 is failure; `EAGAIN`/`EWOULDBLOCK` are reported as ``IOResult/wouldBlock``
/// instead of an error, so that callers of non-blocking sockets can wait with `poll(2)`.
@inlinable
package func systemCall<R: BinaryInteger & Sendable>(
    _ name: @autoclosure () -> String,
    remote: @autoclosure () -> String? = nil,
    _ body: () -> R
) throws(SystemError) -> IOResult<R> {
    while true {
        let result = body()
        if result != -1 { return .done(result) }
        let code = errno
        if code == EINTR { continue }
        if code == EAGAIN || code == EWOULDBLOCK { return .wouldBlock }
        throw SystemError(call: name(), errno: code, remote: remote())
    }
}

/// Like ``systemCall(_:remote:_:)`` for calls that never legitimately block.
@inlinable
package func systemCallBlocking<R: BinaryInteger & Sendable>(
    _ name: @autoclosure () -> String,
    remote: @autoclosure () -> String? = nil,
    _ body: () -> R
) throws(SystemError) -> R {
    while true {
        let result = body()
        if result != -1 { return result }
        let code = errno
        if code == EINTR { continue }
        throw SystemError(call: name(), errno: code, remote: remote())
    }
}

extension SystemError {
    /// `call` failing for want of room on a device (`ENOSPC`).
    package static func noSpace(call: String) -> SystemError { SystemError(call: call, errno: ENOSPC) }
}
