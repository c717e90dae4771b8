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
    let fabric: InProcessFabric

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

    public func postSend(_ buffer: UnsafeRawBufferPointer, to peer: Int, tag: MessageTag) throws(TransportError) -> TransportRequest {
        try fabric.post(.init(isSend: true, address: UInt(bitPattern: buffer.baseAddress), count: buffer.count, tag: tag),
                        rank: rank, peer: peer)
    }

    public func postReceive(into buffer: UnsafeMutableRawBufferPointer, from peer: Int, tag: MessageTag) throws(TransportError) -> TransportRequest {
        try fabric.post(.init(isSend: false, address: UInt(bitPattern: buffer.baseAddress), count: buffer.count, tag: tag),
                        rank: rank, peer: peer)
    }

    public func wait(_ request: TransportRequest, deadline: Deadline) throws(TransportError) {
        try fabric.wait(request, rank: rank, deadline: deadline)
    }

    /// Closes this rank: its pending and later requests fail with ``TransportError/Kind/closed``,
    /// and peers' pending requests with it fail with ``TransportError/Kind/peerGone``.
    public func close() { fabric.close(rank: rank) }

    /// Fails this rank: like ``close()``, but its later calls throw `error`.
    public func fail(_ error: TransportError) { fabric.fail(rank: rank, error) }
}

extension InProcessTransport: TransportProbe {
    package var parkedWaiters: Int { fabric.gauges[rank].value }
    /// Sends and receives are matched when posted: nothing is left for a pass to move.
    package func progressOnce() -> Bool { false }
}

/// The shared state of an in-process group.
final class InProcessFabric: @unchecked Sendable {
    struct Operation {
        var isSend: Bool
        var address: UInt
        var count: Int
        var tag: MessageTag
        var request = TransportRequest(rawValue: 0)
    }

    let worldSize: Int
    private let lock = ConditionLock()
    /// Requests per rank.
    private var tables: [RequestTable]
    /// Pending sends and receives per (from, to) pair, indexed `from * worldSize + to`.
    private var sends: [[Operation]]
    private var receives: [[Operation]]
    /// The whole group failed (a wait timed out while queues may still name its slot).
    private var closed = false
    /// Ranks that closed their transport.
    private var closedRanks: Set<Int> = []
    /// Why each rank failed, if it did: its later posts throw it.
    private var failures: [Int: TransportError] = [:]
    /// Fabrics of subgroups, by subgroup id.
    private var children: [UInt64: InProcessFabric] = [:]
    /// The threads parked in each rank's wait (``TransportProbe``).
    let gauges: [WaiterGauge]

    init(worldSize: Int) {
        self.worldSize = worldSize
        gauges = (0..<worldSize).map { _ in WaiterGauge() }
        tables = Array(repeating: RequestTable(), count: worldSize)
        sends = Array(repeating: [], count: worldSize * worldSize)
        receives = Array(repeating: [], count: worldSize * worldSize)
    }

    /// The fabric of subgroup `id`, made by the first member to ask.
    func child(id: UInt64, worldSize: Int) -> InProcessFabric {
        lock.withLock {
            if let existing = children[id] { return existing }
            let made = InProcessFabric(worldSize: worldSize)
            children[id] = made
            return made
        }
    }

    func post(_ op: Operation, rank: Int, peer: Int) throws(TransportError) -> TransportRequest {
        let kind: TransportOperation = op.isSend ? .send : .receive
        guard peer >= 0, peer < worldSize else {
            throw TransportError(.invalidArgument("peer \(peer) outside 0..<\(worldSize)"), rank: rank, peer: peer, operation: kind)
        }
        lock.lock()
        defer { lock.unlock() }
        if let failure = failures[rank] { throw failure }
        if closed || closedRanks.contains(rank) { throw TransportError(.closed, rank: rank, peer: peer, operation: kind) }
        if closedRanks.contains(peer) { throw goneError(peer, seenBy: rank, operation: kind) }
        let request = tables[rank].allocate()
        var op = op
        op.request = request
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
                let mismatch = MessageMismatch(sender: from, receiver: to, sent: send.tag, sentBytes: send.count,
                                               expected: receive.tag, expectedBytes: receive.count)
                tables[from].fail(send.request, TransportError(.mismatch(mismatch.explanation), rank: from, peer: to, operation: "send", mismatch: mismatch))
                tables[to].fail(receive.request, mismatch.error())
            } else {
                if send.count > 0 {
                    UnsafeMutableRawPointer(bitPattern: receive.address)!
                        .copyMemory(from: UnsafeRawPointer(bitPattern: send.address)!, byteCount: send.count)
                }
                tables[from].complete(send.request)
                tables[to].complete(receive.request)
            }
            matched = true
        }
        if matched { lock.broadcast() }
    }

    func wait(_ request: TransportRequest, rank: Int, deadline: Deadline) throws(TransportError) {
        lock.lock()
        defer { lock.unlock() }
        guard let slot = tables[rank].slot(of: request) else {
            if let failure = failures[rank] { throw failure }
            throw TransportError(.invalidArgument("unknown or spent request"), rank: rank, peer: nil, operation: "wait")
        }
        if try tables[rank].settle(slot) { return }
        gauges[rank].enter()
        defer { gauges[rank].leave() }
        while true {
            if try tables[rank].settle(slot) { return }
            if closed || closedRanks.contains(rank) {
                tables[rank].release(slot)
                throw TransportError(.closed, rank: rank, peer: nil, operation: "wait")
            }
            if !lock.wait(until: deadline), deadline.hasPassed {
                // The group is broken: drop everything queued (so no buffer is written later)
                // and close it, so that every rank fails instead of hanging.
                let error = TransportError(.timedOut, rank: rank, peer: nil, operation: "wait")
                closed = true
                for pair in sends.indices {
                    for op in sends[pair] { tables[pair / worldSize].fail(op.request, error) }
                    for op in receives[pair] { tables[pair % worldSize].fail(op.request, error) }
                    sends[pair].removeAll()
                    receives[pair].removeAll()
                }
                failures[rank] = error
                tables[rank].release(slot)
                lock.broadcast()
                throw error
            }
        }
    }

    /// Fails `rank` as ``close(rank:)`` does, with `error` for its own later calls.
    func fail(rank: Int, _ error: TransportError) {
        lock.withLock { if failures[rank] == nil { failures[rank] = error } }
        close(rank: rank)
    }

    /// What `peer` sees of `rank`, which closed or failed: `peerGone`, or, when `rank` failed
    /// because the two called differently, that mismatch (what `peer` would have found itself at
    /// its next message), so that both name both calls. Called with the lock held.
    private func goneError(_ rank: Int, seenBy peer: Int, operation: TransportOperation) -> TransportError {
        if let cause = failures[rank], let mismatch = cause.mismatch {
            return TransportError(.mismatch(mismatch.explanation), rank: peer, peer: rank, operation: operation, mismatch: mismatch)
        }
        return TransportError(.peerGone, rank: peer, peer: rank, operation: operation)
    }

    func close(rank: Int) {
        lock.withLock {
            closedRanks.insert(rank)
            // Fail what is queued to or from the closed rank.
            for from in 0..<worldSize {
                for to in 0..<worldSize where from == rank || to == rank {
                    let pair = from * worldSize + to
                    for op in sends[pair] {
                        tables[from].fail(op.request, from == rank ? TransportError(.closed, rank: from, peer: to, operation: "send")
                                                                   : goneError(rank, seenBy: from, operation: "send"))
                    }
                    for op in receives[pair] {
                        tables[to].fail(op.request, to == rank ? TransportError(.closed, rank: to, peer: from, operation: "receive")
                                                               : goneError(rank, seenBy: to, operation: "receive"))
                    }
                    sends[pair].removeAll()
                    receives[pair].removeAll()
                }
            }
            lock.broadcast()
        }
    }
}
