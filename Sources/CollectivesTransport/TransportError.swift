import CollectivesSystem

/// A transport operation that failed, naming this rank, the peer and the operation.
///
/// Reads like `rank 2: receive from rank 1 (10.0.0.5:41234): connection closed by peer`.
public struct TransportError: Error, Sendable, CustomStringConvertible {
    /// What went wrong.
    public enum Kind: Sendable, Hashable {
        /// The deadline passed first.
        case timedOut
        /// The peer closed the connection or went away (crashed, killed, network gone).
        case peerGone
        /// A system call failed.
        case system(SystemError)
        /// The peer sent bytes that break the protocol (bad magic, absurd length, wrong job).
        case protocolViolation(String)
        /// The peer sent a message with another tag or length than the receive expects,
        /// usually because the ranks called different collectives.
        case mismatch(String)
        /// The caller passed something invalid (a peer outside the group, a spent request).
        case invalidArgument(String)
        /// The transport was closed (or aborted) while the operation was pending.
        case closed
    }

    public let kind: Kind
    /// The rank that saw the error.
    public let rank: Int
    /// The peer involved, if any.
    public let peer: Int?
    /// What was being done: ``TransportOperation/send``, ``TransportOperation/receive``,
    /// ``TransportOperation/connect``, ``TransportOperation/handshake``…
    public let operation: TransportOperation
    /// Where the peer is, when known (an address).
    public let peerAddress: String?

    /// For ``Kind/mismatch(_:)``: what was sent and what was expected.
    public let mismatch: MessageMismatch?

    public init(_ kind: Kind, rank: Int, peer: Int?, operation: TransportOperation, peerAddress: String? = nil, mismatch: MessageMismatch? = nil) {
        self.mismatch = mismatch
        self.kind = kind
        self.rank = rank
        self.peer = peer
        self.operation = operation
        self.peerAddress = peerAddress
    }

    public var description: String { "rank \(rank): \(summary)" }

    /// What happened, without the rank that saw it: `receive from rank 1 (10.0.0.5:41234): timed out`.
    public var summary: String {
        var text = "\(operation)"
        if let peer {
            text += operation.towardsPeer ? " to rank \(peer)" : " from rank \(peer)"
        }
        if let peerAddress { text += " (\(peerAddress))" }
        switch kind {
        case .timedOut: text += ": timed out"
        case .peerGone: text += ": peer closed the connection or died"
        case .system(let e): text += ": \(e)"
        case .protocolViolation(let why): text += ": protocol violation: \(why)"
        case .mismatch(let why): text += ": mismatch: \(why)"
        case .invalidArgument(let why): text += ": invalid argument: \(why)"
        case .closed: text += ": transport closed"
        }
        return text
    }
}

/// What a transport was doing when it failed, and which way it faced its peer: an error reads
/// `send to rank 3` or `receive from rank 3`.
///
/// The library's operations are constants (``send``, ``receive``, ``wait``, ``connect``…);
/// another, such as a custom transport's, is made with ``init(_:towardsPeer:)``. A string literal
/// is the constant of that name where there is one (`"send"` is ``send``), else a new operation
/// that reads `from rank`.
public struct TransportOperation: Sendable, Hashable, CustomStringConvertible, ExpressibleByStringLiteral {
    /// How it reads in an error (`send`, `RDMA set-up`).
    public let name: String
    /// Whether the peer is the one this rank addressed (`to rank 3`) rather than heard from.
    public let towardsPeer: Bool

    public init(_ name: String, towardsPeer: Bool = false) {
        self.name = name
        self.towardsPeer = towardsPeer
    }

    /// (`TransportOperation("flush")` is this too, as for any literal; the constants below pass
    /// `towardsPeer` so that none is made from the table it is in.)
    public init(stringLiteral name: String) {
        self = Self.library.first { $0.name == name } ?? TransportOperation(name)
    }

    public var description: String { name }

    /// Sending a message to the peer.
    public static let send = TransportOperation("send", towardsPeer: true)
    /// Receiving a message from the peer.
    public static let receive = TransportOperation("receive", towardsPeer: false)
    /// Waiting for a request to complete.
    public static let wait = TransportOperation("wait", towardsPeer: false)
    /// Connecting to the peer.
    public static let connect = TransportOperation("connect", towardsPeer: true)
    /// Accepting a connection.
    public static let accept = TransportOperation("accept", towardsPeer: false)
    /// The hello and the job secret's challenge on a new connection.
    package static let handshake = TransportOperation("handshake", towardsPeer: false)
    /// Setting up a transport.
    package static let setUp = TransportOperation("set-up", towardsPeer: false)
    /// Exchanging set-up records over a group's connections.
    package static let setUpExchange = TransportOperation("set-up exchange", towardsPeer: false)
    /// Setting up shared memory.
    package static let sharedMemorySetUp = TransportOperation("shared-memory set-up", towardsPeer: false)
    /// Setting up RDMA verbs.
    package static let rdmaSetUp = TransportOperation("RDMA set-up", towardsPeer: false)
    /// Setting up RDMA verbs, failed because another rank's set-up failed.
    package static let rdmaSetUpElsewhere = TransportOperation("RDMA set-up (another rank failed)", towardsPeer: false)
    /// Making a subgroup's transport.
    package static let subgroupSetUp = TransportOperation("subgroup set-up", towardsPeer: false)
    /// A connection with nothing to do that failed.
    package static let idle = TransportOperation("idle", towardsPeer: false)

    /// The library's operations, for string literals.
    static let library: [TransportOperation] = [
        .send, .receive, .wait, .connect, .accept, .handshake, .setUp, .setUpExchange, .sharedMemorySetUp, .rdmaSetUp,
        .rdmaSetUpElsewhere, .subgroupSetUp, .idle,
    ]
}

extension TransportError {
    /// Maps a socket error onto a transport error for `peer`.
    package init(_ error: SocketError, rank: Int, peer: Int?, operation: TransportOperation) {
        switch error {
        case .timedOut(_, let remote):
            self.init(.timedOut, rank: rank, peer: peer, operation: operation, peerAddress: remote)
        case .closedByPeer(_, let remote):
            self.init(.peerGone, rank: rank, peer: peer, operation: operation, peerAddress: remote)
        case .system(let e):
            self.init(error.isPeerGone ? .peerGone : .system(e), rank: rank, peer: peer,
                      operation: operation, peerAddress: e.remote)
        }
    }
}

/// Two ends of a message that disagree: the sender's tag and length, and the receiver's.
public struct MessageMismatch: Sendable, Hashable {
    public var sender: Int
    public var receiver: Int
    public var sent: MessageTag
    public var sentBytes: Int
    public var expected: MessageTag
    public var expectedBytes: Int

    public init(sender: Int, receiver: Int, sent: MessageTag, sentBytes: Int, expected: MessageTag, expectedBytes: Int) {
        self.sender = sender
        self.receiver = receiver
        self.sent = sent
        self.sentBytes = sentBytes
        self.expected = expected
        self.expectedBytes = expectedBytes
    }

    /// The transport's own wording: raw tags and lengths.
    public var explanation: String {
        "rank \(sender) sent \(sentBytes) bytes with \(sent), rank \(receiver) expected \(expectedBytes) bytes with \(expected)"
    }

    /// Makes the mismatch error of a receive.
    package func error(operation: TransportOperation = .receive, peerAddress: String? = nil) -> TransportError {
        TransportError(.mismatch(explanation), rank: receiver, peer: sender, operation: operation, peerAddress: peerAddress, mismatch: self)
    }
}
