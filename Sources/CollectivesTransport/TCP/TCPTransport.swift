import CollectivesSystem
import Logging
import Synchronization

/// The TCP transport: one connection per pair of ranks (or several, striped), non-blocking
/// sockets, and a progress engine that runs in the thread that waits.
///
/// A wait moves every connection with queued work, and when nothing moves it waits as its
/// ``WaitPolicy`` says: spins, yields its core when ranks outnumber cores, then sleeps in
/// `poll(2)` on exactly the sockets that can make progress (writable for queued sends, readable
/// for queued receives, hang-up for the others, so a dead peer is noticed). So sends and
/// receives progress together (a ring step never waits on its own send) and an idle rank uses no
/// CPU. Between waits the kernel's socket buffers (asked to be ``TCPOptions/socketBufferBytes``
/// large) keep data flowing while the caller reduces.
///
/// Build one with ``establish(rank:worldSize:jobID:listener:peerAddresses:options:deadline:)``.
public final class TCPTransport: Transport, WaitMedium, @unchecked Sendable {
    public let rank: Int
    public let worldSize: Int
    public var name: String { "tcp" }

    private let lock = ConditionLock()
    /// The threads parked in this transport's wait loop (``TransportProbe``).
    let gauge = WaiterGauge()
    /// Every connection, and by peer the connections to it in stream order.
    private let connections: [TCPConnection]
    private let streams: [[TCPConnection]]
    /// Stripes of each request still to move; the request completes when it reaches zero.
    private var slotStripes: [Int] = []
    private let stripeThreshold: Int
    private var table = RequestTable(capacity: 256)
    /// Per request slot: the peer it concerns and whether it is a send, for error messages.
    private var slotPeers: [Int] = []
    private var slotIsSend: [Bool] = []
    private var pollSet = PollSet()
    private var pollPeers: [Int] = []
    private let closedFlag = Atomic<Bool>(false)
    /// Why the whole transport failed, once it has: later posts throw it.
    private var failure: TransportError?
    /// A failure asked for by ``fail(_:)`` from another thread, seen by a waiter woken from poll.
    private let requestedFailure = Mutex<TransportError?>(nil)
    private var policy: WaitPolicy

    /// The job this transport's connections were checked against.
    let jobID: UInt64
    /// The settings it was made with, for subgroups made from it.
    let options: TCPOptions
    let logger: Logger

    /// Wraps connected, handshaken sockets: `sockets[peer]` holds the pair's streams in order,
    /// and is empty for this rank.
    ///
    /// `frameKeys[peer][stream]`, when given, is that connection's key for authenticated frames
    /// (``TCPOptions/authenticateFrames``).
    package init(rank: Int, worldSize: Int, sockets: [[Socket]], jobID: UInt64 = 0, options: TCPOptions = TCPOptions(),
                frameKeys: [[[UInt8]?]] = [], logger: Logger = Logger(label: "collectives.tcp")) {
        precondition(sockets.count == worldSize)
        stripeThreshold = Swift.max(options.stripeThresholdBytes, 1)
        policy = options.waitPolicy
        self.jobID = jobID
        self.options = options
        self.logger = logger
        self.rank = rank
        self.worldSize = worldSize
        streams = sockets.enumerated().map { peer, list in
            list.enumerated().map { stream, socket in
                TCPConnection(peer: peer, rank: rank, socket: socket, key: peer < frameKeys.count && stream < frameKeys[peer].count ? frameKeys[peer][stream] : nil)
            }
        }
        connections = streams.flatMap { $0 }
        pollPeers.reserveCapacity(worldSize)
    }

    deinit { close() }

    /// How waits spin, yield and sleep; may be changed at any time (the communicator sets it
    /// once it knows how many ranks share this host).
    package var waitPolicy: WaitPolicy {
        get { lock.withLock { policy } }
        set { lock.withLock { policy = newValue } }
    }

    /// The local address of this rank's connections (its address on the network they use).
    func localAddress() throws(SocketError) -> SocketAddress {
        guard let connection = connections.first else { return .loopback(port: 0) }
        return try connection.socket.localAddress()
    }

    // MARK: Posting

    public func postSend(_ buffer: UnsafeRawBufferPointer, to peer: Int, tag: MessageTag) throws(TransportError) -> TransportRequest {
        try post(buffer.count, peer: peer, isSend: true) { connection, range, request in
            let wasIdle = !connection.hasPendingSends
            connection.enqueueSend(.init(base: UnsafeMutableRawPointer(mutating: buffer.baseAddress.map { $0 + range.lowerBound }),
                                         count: range.count, tag: tag, done: 0, request: request))
            guard wasIdle else { return }
            // Start at once: small messages usually leave in this one call.
            do throws(TransportError) {
                _ = try connection.progressSends(rank: rank) { completeStripe($0) }
            } catch {
                fail(connection, error)
            }
        }
    }

    public func postReceive(into buffer: UnsafeMutableRawBufferPointer, from peer: Int, tag: MessageTag) throws(TransportError) -> TransportRequest {
        try post(buffer.count, peer: peer, isSend: false) { connection, range, request in
            connection.enqueueReceive(.init(base: buffer.baseAddress.map { $0 + range.lowerBound }, count: range.count, tag: tag,
                                            done: 0, request: request))
        }
    }

    /// Admits a message of `bytes` to or from `peer` under the lock, striped over the pair's
    /// streams: `enqueue` puts each stripe (its byte range) on its stream, for the request made.
    private func post(_ bytes: Int, peer: Int, isSend: Bool,
                      _ enqueue: (TCPConnection, Range<Int>, TransportRequest) -> Void) throws(TransportError) -> TransportRequest {
        lock.lock()
        defer { lock.unlock() }
        let lanes = try usableStreams(peer, operation: isSend ? .send : .receive)
        let stripes = stripeCount(bytes, lanes.count)
        let request = allocate(peer: peer, isSend: isSend, stripes: stripes)
        for index in 0..<stripes { enqueue(lanes[index], Self.stripe(index, of: bytes, into: stripes), request) }
        return request
    }

    /// How many stripes a message of `bytes` takes: one below the threshold, else one per stream.
    private func stripeCount(_ bytes: Int, _ lanes: Int) -> Int {
        lanes > 1 && bytes >= stripeThreshold ? lanes : 1
    }

    /// The byte range of stripe `index` of `count` of a `bytes`-byte message: equal stripes
    /// but for the last, the same on the sending and the receiving side.
    static func stripe(_ index: Int, of bytes: Int, into count: Int) -> Range<Int> {
        guard count > 1 else { return 0..<bytes }
        let per = (bytes + count - 1) / count
        return Swift.min(index * per, bytes)..<Swift.min((index + 1) * per, bytes)
    }

    private func completeStripe(_ request: TransportRequest) {
        guard table.isPending(request) else { return }
        let slot = RequestTable.slot(request)
        slotStripes[slot] -= 1
        if slotStripes[slot] == 0 { table.complete(request) }
    }

    private func usableStreams(_ peer: Int, operation: TransportOperation) throws(TransportError) -> [TCPConnection] {
        if let failure { throw failure }
        guard peer >= 0, peer < worldSize, peer != rank, !streams[peer].isEmpty else {
            throw TransportError(.invalidArgument("peer \(peer) is not another rank of 0..<\(worldSize)"),
                                 rank: rank, peer: peer, operation: operation)
        }
        if let failure = streams[peer].first(where: { $0.failure != nil })?.failure { throw failure }
        return streams[peer]
    }

    private func allocate(peer: Int, isSend: Bool, stripes: Int) -> TransportRequest {
        let request = table.allocate()
        let slot = RequestTable.slot(request)
        if slot >= slotPeers.count {
            slotPeers.append(peer)
            slotIsSend.append(isSend)
            slotStripes.append(stripes)
        } else {
            slotPeers[slot] = peer
            slotIsSend[slot] = isSend
            slotStripes[slot] = stripes
        }
        return request
    }

    // MARK: Waiting

    public func wait(_ request: TransportRequest, deadline: Deadline) throws(TransportError) {
        lock.lock()
        defer { lock.unlock() }
        let slot = try liveSlot(of: request)
        try runWaitLoop(
            policy: policy, deadline: deadline, lock: lock, gauge: gauge, livenessInterval: .max,
            settle: { () throws(TransportError) in try table.settle(slot) },
            progress: { progressAll(readyOnly: false) },
            sleep: { nanoseconds in napLocked(nanoseconds) },
            timedOut: { () -> TransportError in expireLocked(request, slot: slot) })
    }

    /// The slot of a request this rank may wait on, or the transport's failure (or a spent-handle
    /// error).
    private func liveSlot(of request: TransportRequest) throws(TransportError) -> Int {
        guard let slot = table.slot(of: request) else {
            if let failure { throw failure }
            throw TransportError(.invalidArgument("unknown or spent request"), rank: rank, peer: nil, operation: "wait")
        }
        return slot
    }

    /// Sleeps in `poll` until a socket with work is ready or `nanoseconds` pass, then moves what
    /// is ready. Holding the lock is fine: close() and fail() shut the sockets down first, which
    /// wakes the poll.
    private func napLocked(_ nanoseconds: UInt64) {
        pollOnce(timeoutNanoseconds: nanoseconds)
        if let failure = requestedFailure.withLock({ $0 }) {
            failLocked(failure)
            return
        }
        progressAll(readyOnly: true)
    }

    /// Fails the transport with the timeout of `request` and returns that error.
    private func expireLocked(_ request: TransportRequest, slot: Int) -> TransportError {
        let peer = slotPeers[slot]
        let error = TransportError(.timedOut, rank: rank, peer: peer, operation: slotIsSend[slot] ? .send : .receive,
                                   peerAddress: streams[peer].first?.socket.remoteDescription)
        failLocked(error)
        _ = try? table.settle(slot)
        return error
    }

    /// Sleeps in `poll` on the sockets that can move queued work (and, for the others, on the
    /// peer hanging up, so a dead peer is noticed), until one is ready or the time is up.
    private func pollOnce(timeoutNanoseconds: UInt64) {
        pollSet.removeAll()
        pollPeers.removeAll(keepingCapacity: true)
        for (index, connection) in connections.enumerated() where connection.failure == nil {
            var events: PollEvents = []
            if connection.hasPendingSends { events.insert(.writable) }
            if connection.hasPendingReceives { events.insert(.readable) }
            if events.isEmpty {
                if connection.peerShutDown { continue }
                events = .peerShutDown
            }
            pollSet.add(connection.socket.descriptor, waitingFor: events)
            pollPeers.append(index)
        }
        pollSet.wait(timeoutNanoseconds: timeoutNanoseconds)
    }

    /// Moves bytes on connections with queued work: all of them, or those `poll` marked ready.
    /// Returns whether any byte moved.
    @discardableResult
    private func progressAll(readyOnly: Bool) -> Bool {
        var moved = false
        if readyOnly {
            for index in 0..<pollSet.count where !pollSet.found(at: index).isEmpty {
                let connection = connections[pollPeers[index]]
                let found = pollSet.found(at: index)
                if !connection.hasPendingSends && !connection.hasPendingReceives {
                    if found.contains(.error) {
                        fail(connection, TransportError(.peerGone, rank: rank, peer: connection.peer, operation: "idle",
                                                        peerAddress: connection.socket.remoteDescription))
                    } else {
                        connection.peerShutDown = true
                    }
                    continue
                }
                if progress(connection) { moved = true }
            }
        } else {
            for connection in connections
            where connection.failure == nil && (connection.hasPendingSends || connection.hasPendingReceives) {
                if progress(connection) { moved = true }
            }
        }
        return moved
    }

    private func progress(_ connection: TCPConnection) -> Bool {
        do {
            var moved = false
            if connection.hasPendingSends, try connection.progressSends(rank: rank, complete: { completeStripe($0) }) { moved = true }
            if connection.hasPendingReceives, try connection.progressReceives(rank: rank, complete: { completeStripe($0) }) { moved = true }
            return moved
        } catch {
            fail(connection, error)
            return true
        }
    }

    /// Marks a connection, and the other streams to its peer, broken and fails everything
    /// queued on them.
    private func fail(_ failed: TCPConnection, _ error: TransportError) {
        for connection in streams[failed.peer] {
            connection.failure = error
            for request in connection.pendingRequests() {
                // Name the operation of each request, keeping the cause.
                let slot = RequestTable.slot(request)
                let operation: TransportOperation = slotIsSend[slot] ? .send : .receive
                table.fail(request, TransportError(error.kind, rank: rank, peer: connection.peer, operation: operation,
                                                   peerAddress: error.peerAddress ?? failed.socket.remoteDescription,
                                                   mismatch: error.mismatch))
            }
            connection.dropPending()
            connection.socket.shutdown()
        }
    }

    // MARK: Waiting beside another medium (RoutedTransport)

    package func test(_ request: TransportRequest) throws(TransportError) -> Bool {
        lock.lock()
        defer { lock.unlock() }
        return try table.settle(try liveSlot(of: request))
    }

    package func progress() -> Bool { lock.withLock { progressAll(readyOnly: false) } }

    package func nap(_ nanoseconds: UInt64) { lock.withLock { napLocked(nanoseconds) } }

    package func checkPeers() {}

    package var hasQueuedWork: Bool {
        lock.withLock { connections.contains { $0.failure == nil && ($0.hasPendingSends || $0.hasPendingReceives) } }
    }

    package func expire(_ request: TransportRequest) -> TransportError {
        lock.withLock {
            guard let slot = table.slot(of: request) else {
                return failure ?? TransportError(.timedOut, rank: rank, peer: nil, operation: "wait")
            }
            return expireLocked(request, slot: slot)
        }
    }

    // MARK: Failing and closing

    /// Fails the transport: every queued request fails with `error` and is dropped, later posts
    /// throw it, and every connection is shut down, so that peers see this rank as gone at once.
    public func fail(_ error: TransportError) {
        // Wake a thread sleeping in poll first (it holds the lock while it sleeps); it finds the
        // error here before it reads the shut-down sockets, so the failure is this one.
        requestedFailure.withLock { if $0 == nil { $0 = error } }
        for connection in connections { connection.socket.shutdown() }
        lock.withLock { failLocked(error) }
    }

    private func failLocked(_ error: TransportError) {
        guard failure == nil else { return }
        failure = error
        // Every pending request is queued on some connection: fail them all, drop the queues.
        table.failAll(error)
        for connection in connections {
            connection.dropPending()
            connection.socket.shutdown()
        }
    }

    public func close() {
        if closedFlag.exchange(true, ordering: .acquiringAndReleasing) { return }
        fail(TransportError(.closed, rank: rank, peer: nil, operation: "wait"))
        lock.withLock {
            for connection in connections { connection.socket.close() }
        }
    }
}

extension TCPTransport: TransportProbe {
    package var parkedWaiters: Int { gauge.value }
    package func progressOnce() -> Bool { progress() }
}
