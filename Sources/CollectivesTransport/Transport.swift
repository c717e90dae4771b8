import CollectivesSystem

/// A handle for a posted send or receive, valid until it is waited on.
public struct TransportRequest: Sendable, Hashable {
    /// Slot index in the low 32 bits, generation in the high 32: a stale handle is detected.
    public let rawValue: UInt64

    @inlinable
    public init(rawValue: UInt64) { self.rawValue = rawValue }
}

/// What a message belongs to. The receiver posts the tag it expects and the transport checks
/// the whole of it, with the length, against what the sender sent (the TCP and shared-memory
/// frames carry all three words), so two ranks that made different calls fail at the first
/// message instead of exchanging garbage.
///
/// The layer above decides what the words mean: the communicator puts the collective's sequence
/// number and kind in ``value``, its type, operation, root and algorithm in ``call``, and its
/// element count in ``count``. An integer literal is a tag with only ``value`` set.
public struct MessageTag: Sendable, Hashable, ExpressibleByIntegerLiteral, CustomStringConvertible {
    public var value: UInt64
    public var call: UInt64
    public var count: UInt64

    @inlinable
    public init(_ value: UInt64, call: UInt64 = 0, count: UInt64 = 0) {
        self.value = value
        self.call = call
        self.count = count
    }

    @inlinable
    public init(integerLiteral value: UInt64) { self.init(value) }

    public var description: String {
        call == 0 && count == 0 ? "tag \(value)" : "tag \(value) (call \(String(call, radix: 16)), count \(count))"
    }
}

/// Moves bytes between the ranks of one group. Algorithms see only this protocol; TCP,
/// in-process queues (and later shared memory and RDMA verbs) implement it.
///
/// ## Contract
/// - **Ordering.** Messages from one rank to another are matched in the order they were posted:
///   the *k*-th receive posted for peer *p* takes the *k*-th message *p* posted to this rank.
///   Sends to different peers, and receives from different peers, are independent.
/// - **Matching is checked.** A receive must be posted with the tag and the length that the sender
///   used (all of ``MessageTag``). A mismatch fails the request with
///   ``TransportError/Kind/mismatch(_:)``, carrying both tags in ``TransportError/mismatch``,
///   instead of producing garbage (this is how collectives called differently are caught).
/// - **Buffers are lent, not copied.** A buffer passed to a post must stay valid and, for a send,
///   unchanged until the request completes. Transports may read or write it at any time until then,
///   which is what lets RDMA write into registered memory and TCP receive in place.
/// - **Progress.** Requests progress at least while some thread is inside ``wait(_:deadline:)``;
///   a send and a receive with the same peer progress at the same time (full duplex).
/// - **Deadlines.** Every wait takes one; when it passes the request fails with
///   ``TransportError/Kind/timedOut``, naming the peer, and the transport fails (see below).
///   ``Deadline/never`` waits for as long as it takes.
/// - **Failure.** A transport that timed out, was closed, or was failed with ``fail(_:)`` drops
///   every queued operation before the call returns: it never touches a caller's buffer again,
///   every pending request fails with the error, and every later post throws it.
/// - **Threads.** One thread at a time posts and waits (the communicator serializes its
///   operations); implementations may still use threads of their own.
public protocol Transport: AnyObject, Sendable {
    /// This process's rank in the group, `0..<worldSize`.
    var rank: Int { get }
    /// The number of ranks in the group.
    var worldSize: Int { get }
    /// A short name for logs and benchmark output, for example `"tcp"`.
    var name: String { get }

    /// Starts sending `buffer` to `peer`.
    func postSend(_ buffer: UnsafeRawBufferPointer, to peer: Int, tag: MessageTag) throws(TransportError) -> TransportRequest

    /// Starts receiving exactly `buffer.count` bytes from `peer` into `buffer`.
    func postReceive(into buffer: UnsafeMutableRawBufferPointer, from peer: Int, tag: MessageTag) throws(TransportError) -> TransportRequest

    /// Blocks (sleeping, not spinning) until `request` completes or fails, or `deadline` passes.
    /// After it returns or throws, the request handle is spent.
    func wait(_ request: TransportRequest, deadline: Deadline) throws(TransportError)

    /// Fails every pending request and wakes every waiter with ``TransportError/Kind/closed``.
    /// Later calls fail the same way. Releases sockets and other resources.
    func close()

    /// Fails the transport with `error`, from any thread: drops every queued operation (no
    /// caller's buffer is touched after this returns), fails every pending request and every
    /// later post with `error`, and lets the peers see this rank as gone. Resources stay until
    /// ``close()``.
    func fail(_ error: TransportError)
}

extension Transport {
    /// Closes: for transports with no failure state of their own, failing is closing.
    public func fail(_ error: TransportError) { close() }
}

extension Transport {
    /// Waits for every request in order. On failure the remaining requests are left pending;
    /// the transport should then be closed.
    @inlinable
    public func waitAll(_ requests: some Sequence<TransportRequest>, deadline: Deadline) throws(TransportError) {
        for request in requests { try wait(request, deadline: deadline) }
    }

    /// Sends `buffer` and waits for it.
    public func send(_ buffer: UnsafeRawBufferPointer, to peer: Int, tag: MessageTag, deadline: Deadline) throws(TransportError) {
        let request = try postSend(buffer, to: peer, tag: tag)
        try wait(request, deadline: deadline)
    }

    /// Receives into `buffer` and waits for it.
    public func receive(into buffer: UnsafeMutableRawBufferPointer, from peer: Int, tag: MessageTag, deadline: Deadline) throws(TransportError) {
        let request = try postReceive(into: buffer, from: peer, tag: tag)
        try wait(request, deadline: deadline)
    }
}
