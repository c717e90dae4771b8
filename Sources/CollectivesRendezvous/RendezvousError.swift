import CollectivesSystem

/// Why a rendezvous, a store call or reading the configuration failed.
public enum RendezvousError: Error, Sendable, CustomStringConvertible {
    /// The deadline passed while waiting for `keys` (the operation names what was waited for).
    case timedOut(operation: String, keys: [String])
    /// The store could not be reached at `address`: the system call that failed, with its errno.
    case storeUnreachable(address: String, cause: SystemError)
    /// The connection to the store broke during `operation` (the socket's error: a timeout, a
    /// closed connection, or a system call's errno).
    case connectionLost(address: String, operation: String, cause: SocketError)
    /// The store server could not listen on `address` (for example: the port is in use, errno
    /// `EADDRINUSE`; or `address` is not one of this host's, `EADDRNOTAVAIL`).
    case cannotListen(address: String, cause: SocketError)
    /// Bytes from the other end break the store protocol.
    case protocolViolation(String)
    /// A file store's file could not be read or written: the system call that failed, with its errno.
    case fileSystem(path: String, cause: SystemError)
    /// An environment variable is missing or malformed.
    case invalidEnvironment(variable: String, value: String?, expected: String)
    /// The configuration is inconsistent (for example a rank outside the world).
    case invalidConfiguration(String)
    /// Another rank reported a failure through the store while this one waited.
    case peerReported(String)
    /// The store was closed while `operation` waited on it.
    case storeClosed(operation: String)
    /// The process that answered at `address` could not prove it knows the job's secret: a
    /// store of another job, or a process that took the port first.
    case storeNotAuthentic(address: String)
    /// A store the program gave as callbacks (the C interface's `collStore_t`) returned `code`
    /// from `operation` on `key`.
    case storeCallbackFailed(operation: String, key: String, code: Int32)

    public var description: String {
        switch self {
        case .timedOut(let operation, let keys):
            let shown = keys.prefix(8).joined(separator: ", ") + (keys.count > 8 ? ", …" : "")
            return "\(operation): timed out waiting for \(shown)"
        case .storeUnreachable(let address, let cause):
            return "cannot reach the rendezvous store at \(address): \(cause)"
        case .connectionLost(let address, let operation, let cause):
            return "lost the connection to the rendezvous store at \(address) during \(operation): \(cause)"
        case .cannotListen(let address, let cause):
            return "cannot serve the rendezvous store on \(address): \(cause)"
        case .protocolViolation(let why):
            return "rendezvous store protocol violation: \(why)"
        case .fileSystem(let path, let cause):
            return "file store: \(path): \(cause)"
        case .invalidEnvironment(let variable, let value, let expected):
            if let value { return "environment variable \(variable)=\"\(value)\" is invalid: expected \(expected)" }
            return "environment variable \(variable) is not set: expected \(expected)"
        case .invalidConfiguration(let why):
            return "invalid configuration: \(why)"
        case .peerReported(let why):
            return why
        case .storeClosed(let operation):
            return "\(operation): the rendezvous store was closed"
        case .storeNotAuthentic(let address):
            return "refused the rendezvous store at \(address): it could not prove it knows the job's secret "
                + "(another job's store, or a process that took the port first; COLLECTIVES_JOB_SECRET must be the same on every rank)"
        case .storeCallbackFailed(let operation, let key, let code):
            return "the program's store failed: its \(operation) of \(key) returned \(code)"
        }
    }
}
