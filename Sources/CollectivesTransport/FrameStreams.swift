import CollectivesSystem

/// A message being sent or received by a ring transport (shared memory, RDMA): the caller's
/// buffer and how far it has got, counting the header (``TCPFrameHeader``'s layout) first.
struct Frame {
    static let headerBytes = TCPFrameHeader.size
    var base: UnsafeMutableRawPointer?
    var count: Int
    var tag: MessageTag
    var done = 0
    var slot = 0
    /// The received header, assembled as it arrives.
    var header: (UInt64, UInt64, UInt64, UInt64) = (0, 0, 0, 0)

    init(base: UnsafeMutableRawPointer?, count: Int, tag: MessageTag) {
        self.base = base
        self.count = count
        self.tag = tag
    }

    /// The header this frame is sent with, as the words go on the wire.
    var outgoingHeader: (UInt64, UInt64, UInt64, UInt64) {
        (tag.value.littleEndian, UInt64(count).littleEndian, tag.call.littleEndian, tag.count.littleEndian)
    }

    /// Once the received header is whole: the mismatch error if it is not the one posted.
    func headerMismatch(from peer: Int, at rank: Int) -> TransportError? {
        let sent = MessageTag(UInt64(littleEndian: header.0), call: UInt64(littleEndian: header.2), count: UInt64(littleEndian: header.3))
        let length = UInt64(littleEndian: header.1)
        guard sent != tag || length != UInt64(count) else { return nil }
        return MessageMismatch(sender: peer, receiver: rank, sent: sent, sentBytes: length > UInt64(Int.max) ? Int.max : Int(length),
                               expected: tag, expectedBytes: count).error()
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
/// stream broke, and whether the transport is closed. The owner guards it with its lock.
struct PeerFrames {
    let rank: Int
    let worldSize: Int
    var table = RequestTable(capacity: 256)
    var sends: [FrameQueue]
    var receives: [FrameQueue]
    /// Peers whose stream broke (mismatch, death): later requests with them fail at once.
    var broken: [TransportError?]
    var closed = false

    init(rank: Int, worldSize: Int) {
        self.rank = rank
        self.worldSize = worldSize
        sends = Array(repeating: FrameQueue(), count: worldSize)
        receives = Array(repeating: FrameQueue(), count: worldSize)
        broken = Array(repeating: nil, count: worldSize)
    }

    /// Checks the peer and the transport's state, gives the frame a request and queues it.
    mutating func admit(_ frame: Frame, peer: Int, isSend: Bool) throws(TransportError) -> TransportRequest {
        let operation = isSend ? "send" : "receive"
        guard peer >= 0, peer < worldSize, peer != rank else {
            throw TransportError(.invalidArgument("peer \(peer) is not another rank of 0..<\(worldSize)"), rank: rank, peer: peer, operation: operation)
        }
        if closed { throw TransportError(.closed, rank: rank, peer: peer, operation: operation) }
        if let error = broken[peer] { throw TransportError(error.kind, rank: rank, peer: peer, operation: operation) }
        let (slot, request) = table.allocate()
        var frame = frame
        frame.slot = slot
        if isSend { sends[peer].append(frame) } else { receives[peer].append(frame) }
        return request
    }

    /// Fails every pending request with `peer` and every later one.
    mutating func breakPeer(_ peer: Int, _ error: TransportError) {
        broken[peer] = error
        for frame in sends[peer].all { table.fail(frame.slot, TransportError(error.kind, rank: rank, peer: peer, operation: "send")) }
        for frame in receives[peer].all {
            table.fail(frame.slot, TransportError(error.kind, rank: rank, peer: peer, operation: "receive", mismatch: error.mismatch))
        }
        sends[peer].removeAll()
        receives[peer].removeAll()
    }

    /// A waiter's check: `true` once the request succeeded, an error once it failed or the
    /// transport closed, `false` while it is pending.
    mutating func settle(_ slot: Int) throws(TransportError) -> Bool {
        if try table.settle(slot) { return true }
        if closed {
            table.release(slot)
            throw TransportError(.closed, rank: rank, peer: nil, operation: "wait")
        }
        return false
    }

    /// Closes: fails everything pending. Returns false if it was closed already.
    mutating func close() -> Bool {
        guard !closed else { return false }
        closed = true
        let rank = self.rank
        table.failAll { _ in TransportError(.closed, rank: rank, peer: nil, operation: "wait") }
        for peer in 0..<worldSize {
            sends[peer].removeAll()
            receives[peer].removeAll()
        }
        return true
    }
}
