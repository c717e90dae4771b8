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

/// The queues of the ring media (shared memory, RDMA verbs): frames queued by peer, and peers
/// whose stream broke. The engine's lock guards it; requests are the engine's
/// (``RequestLedger``), which the medium completes and fails.
///
/// Once the engine has failed (a wait timed out, it was closed or aborted), the queues are
/// dropped and stay empty: nothing the medium does later can touch a caller's buffer.
struct PeerFrames {
    let rank: Int
    let worldSize: Int
    var sends: [FrameQueue]
    var receives: [FrameQueue]
    /// Sends whose bytes have left but which wait for the peer's acknowledgement (single-copy
    /// transfers: the peer reads the caller's buffer itself).
    var awaiting: [FrameQueue]
    /// Peers whose stream broke (mismatch, death): later requests with them fail at once.
    var broken: [TransportError?]
    /// Whether the engine failed and the queues were dropped for good.
    private(set) var isDropped = false

    init(rank: Int, worldSize: Int) {
        self.rank = rank
        self.worldSize = worldSize
        sends = Array(repeating: FrameQueue(), count: worldSize)
        receives = Array(repeating: FrameQueue(), count: worldSize)
        awaiting = Array(repeating: FrameQueue(), count: worldSize)
        broken = Array(repeating: nil, count: worldSize)
    }

    /// Queues `message` for `peer`, unless the pair's stream broke.
    mutating func admit(_ message: Message, peer: Int, isSend: Bool) throws(TransportError) {
        if let error = broken[peer] {
            throw TransportError(error.kind, rank: rank, peer: peer, operation: isSend ? .send : .receive,
                                 peerAddress: error.peerAddress, mismatch: error.mismatch)
        }
        var frame = Frame(base: message.base, count: message.count, tag: message.tag)
        frame.request = message.request
        if isSend { sends[peer].append(frame) } else { receives[peer].append(frame) }
    }

    /// Fails every pending request with `peer` in `ledger`, and every later one.
    mutating func breakPeer(_ peer: Int, _ error: TransportError, in ledger: UnsafeMutablePointer<RequestLedger>) {
        broken[peer] = error
        for frame in sends[peer].all + awaiting[peer].all {
            ledger.pointee.fail(frame.request, TransportError(error.kind, rank: rank, peer: peer, operation: .send,
                                                              peerAddress: error.peerAddress, mismatch: error.mismatch))
        }
        for frame in receives[peer].all {
            ledger.pointee.fail(frame.request, TransportError(error.kind, rank: rank, peer: peer, operation: .receive,
                                                              peerAddress: error.peerAddress, mismatch: error.mismatch))
        }
        sends[peer].removeAll()
        receives[peer].removeAll()
        awaiting[peer].removeAll()
    }

    /// Whether anything is pending with `peer`.
    func hasWork(with peer: Int) -> Bool {
        !sends[peer].isEmpty || !receives[peer].isEmpty || !awaiting[peer].isEmpty
    }

    /// Whether anything is pending with any peer.
    var hasWork: Bool { (0..<worldSize).contains { hasWork(with: $0) } }

    /// Drops every queued frame, for good: the engine failed (its requests failed with it).
    mutating func dropAll() {
        isDropped = true
        for peer in 0..<worldSize {
            sends[peer].removeAll()
            receives[peer].removeAll()
            awaiting[peer].removeAll()
        }
    }
}
