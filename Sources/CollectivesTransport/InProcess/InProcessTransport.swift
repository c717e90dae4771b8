import CollectivesSystem

/// A transport between threads of one process, for fast tests of algorithms: a send is matched
/// with the receive its peer posts and copied once, under one lock.
///
/// ```swift
/// let group = InProcessTransport.makeGroup(worldSize: 4)
/// // hand group[r] to the thread that plays rank r
/// ```
public final class InProcessTransport: Transport, @unchecked Sendable {
    public let rank: Int
    public var worldSize: Int { fabric.worldSize }
    public var name: String { "in-process" }
    private let fabric: InProcessFabric

    init(rank: Int, fabric: InProcessFabric) {
        self.rank = rank
        self.fabric = fabric
    }

    /// Makes the transports of one group, one per rank.
    public static func makeGroup(worldSize: Int) -> [InProcessTransport] {
        precondition(worldSize > 0, "world size must be positive")
        let fabric = InProcessFabric(worldSize: worldSize)
        return (0..<worldSize).map { InProcessTransport(rank: $0, fabric: fabric) }
    }

    public func postSend(_ buffer: UnsafeRawBufferPointer, to peer: Int, tag: UInt64) throws(TransportError) -> TransportRequest {
        try fabric.post(.init(isSend: true, address: UInt(bitPattern: buffer.baseAddress), count: buffer.count, tag: tag),
                        rank: rank, peer: peer)
    }

    public func postReceive(into buffer: UnsafeMutableRawBufferPointer, from peer: Int, tag: UInt64) throws(TransportError) -> TransportRequest {
        try fabric.post(.init(isSend: false, address: UInt(bitPattern: buffer.baseAddress), count: buffer.count, tag: tag),
                        rank: rank, peer: peer)
    }

    public func wait(_ request: TransportRequest, deadline: Deadline) throws(TransportError) {
        try fabric.wait(request, rank: rank, deadline: deadline)
    }

    /// Closes the whole group: every rank's pending and later requests fail.
    public func close() { fabric.close() }
}

/// The shared state of an in-process group.
final class InProcessFabric: @unchecked Sendable {
    struct Operation {
        var isSend: Bool
        var address: UInt
        var count: Int
        var tag: UInt64
        var slot: Int = 0
    }

    let worldSize: Int
    private let lock = ConditionLock()
    /// Requests per rank.
    private var tables: [RequestTable]
    /// Pending sends and receives per (from, to) pair, indexed `from * worldSize + to`.
    private var sends: [[Operation]]
    private var receives: [[Operation]]
    private var closed = false

    init(worldSize: Int) {
        self.worldSize = worldSize
        tables = Array(repeating: RequestTable(), count: worldSize)
        sends = Array(repeating: [], count: worldSize * worldSize)
        receives = Array(repeating: [], count: worldSize * worldSize)
    }

    func post(_ op: Operation, rank: Int, peer: Int) throws(TransportError) -> TransportRequest {
        let kind = op.isSend ? "send" : "receive"
        guard peer >= 0, peer < worldSize else {
            throw TransportError(.invalidArgument("peer \(peer) outside 0..<\(worldSize)"), rank: rank, peer: peer, operation: kind)
        }
        lock.lock()
        defer { lock.unlock() }
        if closed { throw TransportError(.closed, rank: rank, peer: peer, operation: kind) }
        let (slot, request) = tables[rank].allocate()
        var op = op
        op.slot = slot
        let pair = op.isSend ? rank * worldSize + peer : peer * worldSize + rank
        if op.isSend { sends[pair].append(op) } else { receives[pair].append(op) }
        match(pair: pair, from: op.isSend ? rank : peer, to: op.isSend ? peer : rank)
        return request
    }

    /// Pairs queued sends with queued receives; called with the lock held.
    private func match(pair: Int, from: Int, to: Int) {
        var matched = false
        while !sends[pair].isEmpty, !receives[pair].isEmpty {
            let send = sends[pair].removeFirst()
            let receive = receives[pair].removeFirst()
            if send.tag != receive.tag || send.count != receive.count {
                let why = "rank \(from) sent \(send.count) bytes with tag \(send.tag), rank \(to) expected \(receive.count) bytes with tag \(receive.tag)"
                tables[from].fail(send.slot, TransportError(.mismatch(why), rank: from, peer: to, operation: "send"))
                tables[to].fail(receive.slot, TransportError(.mismatch(why), rank: to, peer: from, operation: "receive"))
            } else {
                if send.count > 0 {
                    UnsafeMutableRawPointer(bitPattern: receive.address)!
                        .copyMemory(from: UnsafeRawPointer(bitPattern: send.address)!, byteCount: send.count)
                }
                tables[from].complete(send.slot)
                tables[to].complete(receive.slot)
            }
            matched = true
        }
        if matched { lock.broadcast() }
    }

    func wait(_ request: TransportRequest, rank: Int, deadline: Deadline) throws(TransportError) {
        lock.lock()
        defer { lock.unlock() }
        guard let slot = tables[rank].slot(of: request) else {
            throw TransportError(.invalidArgument("unknown or spent request"), rank: rank, peer: nil, operation: "wait")
        }
        while true {
            switch tables[rank].state(slot) {
            case .done:
                tables[rank].release(slot)
                return
            case .failed(let error):
                tables[rank].release(slot)
                throw error
            case .pending, .free:
                if closed {
                    tables[rank].release(slot)
                    throw TransportError(.closed, rank: rank, peer: nil, operation: "wait")
                }
                if !lock.wait(until: deadline), deadline.hasPassed {
                    // The group is broken: its queues may still name this slot. Close it so that
                    // every rank fails instead of hanging.
                    closed = true
                    lock.broadcast()
                    throw TransportError(.timedOut, rank: rank, peer: nil, operation: "wait")
                }
            }
        }
    }

    func close() {
        lock.withLock {
            closed = true
            lock.broadcast()
        }
    }
}
