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
    /// What was being done: `"send"`, `"receive"`, `"connect"`, `"handshake"`…
    public let operation: String
    /// Where the peer is, when known (an address).
    public let peerAddress: String?

    /// For ``Kind/mismatch(_:)``: what was sent and what was expected.
    public let mismatch: MessageMismatch?

    public init(_ kind: Kind, rank: Int, peer: Int?, operation: String, peerAddress: String? = nil, mismatch: MessageMismatch? = nil) {
        self.mismatch = mismatch
        self.kind = kind
        self.rank = rank
        self.peer = peer
        self.operation = operation
        self.peerAddress = peerAddress
    }

    public var description: String {
        var text = "rank \(rank): \(operation)"
        if let peer {
            text += operation.hasPrefix("send") || operation.hasPrefix("connect") ? " to rank \(peer)" : " from rank \(peer)"
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

extension TransportError {
    /// Maps a socket error onto a transport error for `peer`.
    public init(_ error: SocketError, rank: Int, peer: Int?, operation: String) {
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
    public func error(operation: String = "receive", peerAddress: String? = nil) -> TransportError {
        TransportError(.mismatch(explanation), rank: receiver, peer: sender, operation: operation, peerAddress: peerAddress, mismatch: self)
    }
}
