import CollectivesSystem

/// A message being sent or received by a ring transport (shared memory, RDMA): the caller's
/// buffer and how far it has got, counting the header (``FrameHeader``) first.
struct Frame {
    static let headerBytes = FrameHeader.size
    var base: UnsafeMutableRawPointer?
    var count: Int
    var tag: MessageTag
    var done = 0
    var request = TransportRequest(rawValue: 0)
    /// The received header, assembled as it arrives.
    var header: (UInt64, UInt64, UInt64, UInt64) = (0, 0, 0, 0)
    /// For a single-copy frame (shared memory): where the payload is in the sender's process and
    /// how long it is, assembled as it arrives.
    var descriptor: (UInt64, UInt64) = (0, 0)

    init(base: UnsafeMutableRawPointer?, count: Int, tag: MessageTag) {
        self.base = base
        self.count = count
        self.tag = tag
    }

    /// The header this frame is sent with, as the words go on the wire.
    var outgoingHeader: (UInt64, UInt64, UInt64, UInt64) {
        FrameHeader(tag: tag, length: UInt64(count)).words
    }

    /// Once the received header is whole: the mismatch error if it is not the one posted.
    func headerMismatch(from peer: Int, at rank: Int) -> TransportError? {
        FrameHeader(words: header).mismatch(expected: tag, expectedBytes: count, sender: peer, receiver: rank)
    }
}

/// A first-in, first-out queue of frames that reuses its storage.
struct FrameQueue {
    private var storage: [Frame] = []
    private var start = 0

    var isEmpty: Bool { start == storage.count }
    var count: Int { storage.count - start }
    var first: Frame? { isEmpty ? nil : storage[start] }
    var all: ArraySlice<Frame> { storage[start...] }

    mutating func append(_ frame: Frame) { storage.append(frame) }

    mutating func updateFirst(_ frame: Frame) { storage[start] = frame }

    mutating func removeFirst() {
        start += 1
        if start == storage.count {
            storage.removeAll(keepingCapacity: true)
            start = 0
        }
    }

    mutating func removeAll() {
        storage.removeAll(keepingCapacity: true)
        start = 0
    }
}

/// The request bookkeeping of the ring transports: requests, frames queued by peer, peers whose
/// stream broke, and the transport's failure, if it failed. The owner guards it with its lock.
///
/// Once the transport has failed (a wait timed out, it was closed or aborted), no frame is
/// queued any more: nothing the transport does later can touch a caller's buffer, every pending
/// request has failed with the error, and every later post throws it.
struct PeerFrames {
    let rank: Int
    let worldSize: Int
    var table = RequestTable(capacity: 256)
    var sends: [FrameQueue]
    var receives: [FrameQueue]
    /// Sends whose bytes have left but which wait for the peer's acknowledgement (single-copy
    /// transfers: the peer reads the caller's buffer itself).
    var awaiting: [FrameQueue]
    /// Peers whose stream broke (mismatch, death): later requests with them fail at once.
    var broken: [TransportError?]
    /// Why the whole transport failed, once it has.
    private(set) var failure: TransportError?

    init(rank: Int, worldSize: Int) {
        self.rank = rank
        self.worldSize = worldSize
        sends = Array(repeating: FrameQueue(), count: worldSize)
        receives = Array(repeating: FrameQueue(), count: worldSize)
        awaiting = Array(repeating: FrameQueue(), count: worldSize)
        broken = Array(repeating: nil, count: worldSize)
    }

    /// Checks the peer and the transport's state, gives the frame a request and queues it.
    mutating func admit(_ frame: Frame, peer: Int, isSend: Bool) throws(TransportError) -> TransportRequest {
        guard peer >= 0, peer < worldSize, peer != rank else {
            throw TransportError(.invalidArgument("peer \(peer) is not another rank of 0..<\(worldSize)"), rank: rank, peer: peer,
                                 operation: isSend ? .send : .receive)
        }
        if let failure { throw failure }
        if let error = broken[peer] {
            throw TransportError(error.kind, rank: rank, peer: peer, operation: isSend ? .send : .receive,
                                 peerAddress: error.peerAddress, mismatch: error.mismatch)
        }
        let request = table.allocate()
        var frame = frame
        frame.request = request
        if isSend { sends[peer].append(frame) } else { receives[peer].append(frame) }
        return request
    }

    /// Fails every pending request with `peer` and every later one.
    mutating func breakPeer(_ peer: Int, _ error: TransportError) {
        broken[peer] = error
        for frame in sends[peer].all + awaiting[peer].all {
            table.fail(frame.request, TransportError(error.kind, rank: rank, peer: peer, operation: "send", peerAddress: error.peerAddress,
                                                     mismatch: error.mismatch))
        }
        for frame in receives[peer].all {
            table.fail(frame.request, TransportError(error.kind, rank: rank, peer: peer, operation: "receive", peerAddress: error.peerAddress,
                                                     mismatch: error.mismatch))
        }
        sends[peer].removeAll()
        receives[peer].removeAll()
        awaiting[peer].removeAll()
    }

    /// Whether anything is pending with `peer`.
    func hasWork(with peer: Int) -> Bool {
        !sends[peer].isEmpty || !receives[peer].isEmpty || !awaiting[peer].isEmpty
    }

    /// A waiter's check: `true` once the request succeeded, an error once it failed, `false`
    /// while it is pending.
    @inline(__always)
    mutating func settle(_ slot: Int) throws(TransportError) -> Bool {
        try table.settle(slot)
    }

    /// Fails the transport with `error`: every pending request fails with it, every queued frame
    /// is dropped, and later posts throw it. Returns false if it had failed already.
    @discardableResult
    mutating func fail(_ error: TransportError) -> Bool {
        guard failure == nil else { return false }
        failure = error
        table.failAll(error)
        for peer in 0..<worldSize {
            sends[peer].removeAll()
            receives[peer].removeAll()
            awaiting[peer].removeAll()
        }
        return true
    }

    /// The error of a wait for `request` that timed out: it names the request's peer (or the
    /// first peer something is still expected from) and where that peer is.
    func timeoutError(for request: TransportRequest, address: (Int) -> String) -> TransportError {
        let peer = peer(of: request)
        return TransportError(.timedOut, rank: rank, peer: peer, operation: isSend(request) ? .send : .receive,
                              peerAddress: peer.map(address))
    }

    /// The peer a timed-out wait names: the peer of the request if it is still queued, else the
    /// first peer something is still expected from.
    func peer(of request: TransportRequest) -> Int? {
        for peer in 0..<worldSize {
            if receives[peer].all.contains(where: { $0.request == request }) || sends[peer].all.contains(where: { $0.request == request })
                || awaiting[peer].all.contains(where: { $0.request == request }) {
                return peer
            }
        }
        return (0..<worldSize).first { !receives[$0].isEmpty } ?? (0..<worldSize).first { !sends[$0].isEmpty }
    }

    /// Whether the request is a send (for error messages).
    func isSend(_ request: TransportRequest) -> Bool {
        (sends + awaiting).contains { $0.all.contains { $0.request == request } }
    }
}
