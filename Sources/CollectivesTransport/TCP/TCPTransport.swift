#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import CollectivesSystem
import Logging
import Synchronization

/// The TCP transport: one connection per pair of ranks, non-blocking sockets, and a progress
/// engine that runs in the thread that waits.
///
/// A wait first tries every connection with queued work, then sleeps in `poll(2)` on exactly the
/// sockets that can make progress: writable for queued sends, readable for queued receives. So
/// sends and receives progress together (a ring step never waits on its own send) and a waiting
/// rank uses no CPU. Between waits the kernel's socket buffers (asked to be
/// ``TCPOptions/socketBufferBytes`` large) keep data flowing while the caller reduces.
///
/// Build one with ``establish(rank:worldSize:jobID:listener:peerAddresses:options:deadline:)``.
public final class TCPTransport: Transport, @unchecked Sendable {
    public let rank: Int
    public let worldSize: Int
    public var name: String { "tcp" }

    private let lock = ConditionLock()
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
    private var pollSet: [pollfd] = []
    private var pollPeers: [Int] = []
    private let closedFlag = Atomic<Bool>(false)
    /// How long a wait polls without sleeping first.
    private let spinNanoseconds: UInt64

    /// The job this transport's connections were checked against.
    let jobID: UInt64
    /// The settings it was made with, for subgroups made from it.
    let options: TCPOptions
    let logger: Logger

    /// Wraps connected, handshaken sockets: `sockets[peer]` holds the pair's streams in order,
    /// and is empty for this rank.
    public init(rank: Int, worldSize: Int, sockets: [[Socket]], jobID: UInt64 = 0, options: TCPOptions = TCPOptions(),
                logger: Logger = Logger(label: "collectives.tcp")) {
        precondition(sockets.count == worldSize)
        stripeThreshold = Swift.max(options.stripeThresholdBytes, 1)
        spinNanoseconds = UInt64(max(0, options.spinMicroseconds)) * 1000
        self.jobID = jobID
        self.options = options
        self.logger = logger
        self.rank = rank
        self.worldSize = worldSize
        streams = sockets.enumerated().map { peer, list in list.map { TCPConnection(peer: peer, socket: $0) } }
        connections = streams.flatMap { $0 }
        pollSet.reserveCapacity(worldSize)
        pollPeers.reserveCapacity(worldSize)
    }

    deinit { close() }

    /// The local address of this rank's connections (its address on the network they use).
    func localAddress() throws(SocketError) -> SocketAddress {
        guard let connection = connections.first else { return .loopback(port: 0) }
        return try connection.socket.localAddress()
    }

    // MARK: Posting

    public func postSend(_ buffer: UnsafeRawBufferPointer, to peer: Int, tag: MessageTag) throws(TransportError) -> TransportRequest {
        lock.lock()
        defer { lock.unlock() }
        let lanes = try usableStreams(peer, operation: "send")
        let stripes = stripeCount(buffer.count, lanes.count)
        let (slot, request) = allocate(peer: peer, isSend: true, stripes: stripes)
        for index in 0..<stripes {
            let range = Self.stripe(index, of: buffer.count, into: stripes)
            let connection = lanes[index]
            let wasIdle = !connection.hasPendingSends
            connection.enqueueSend(.init(base: buffer.baseAddress.map { $0 + range.lowerBound }, count: range.count, tag: tag, done: 0, slot: slot))
            if wasIdle {
                // Start at once: small messages usually leave in this one call.
                do {
                    try connection.progressSends(rank: rank) { completeStripe($0) }
                } catch {
                    fail(connection, error)
                }
            }
        }
        return request
    }

    public func postReceive(into buffer: UnsafeMutableRawBufferPointer, from peer: Int, tag: MessageTag) throws(TransportError) -> TransportRequest {
        lock.lock()
        defer { lock.unlock() }
        let lanes = try usableStreams(peer, operation: "receive")
        let stripes = stripeCount(buffer.count, lanes.count)
        let (slot, request) = allocate(peer: peer, isSend: false, stripes: stripes)
        for index in 0..<stripes {
            let range = Self.stripe(index, of: buffer.count, into: stripes)
            lanes[index].enqueueReceive(.init(base: buffer.baseAddress.map { $0 + range.lowerBound }, count: range.count, tag: tag, done: 0, slot: slot))
        }
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

    private func completeStripe(_ slot: Int) {
        slotStripes[slot] -= 1
        if slotStripes[slot] == 0 { table.complete(slot) }
    }

    private func usableStreams(_ peer: Int, operation: String) throws(TransportError) -> [TCPConnection] {
        if closedFlag.load(ordering: .acquiring) {
            throw TransportError(.closed, rank: rank, peer: peer, operation: operation)
        }
        guard peer >= 0, peer < worldSize, peer != rank, !streams[peer].isEmpty else {
            throw TransportError(.invalidArgument("peer \(peer) is not another rank of 0..<\(worldSize)"),
                                 rank: rank, peer: peer, operation: operation)
        }
        if let failure = streams[peer].first(where: { $0.failure != nil })?.failure { throw failure }
        return streams[peer]
    }

    private func allocate(peer: Int, isSend: Bool, stripes: Int) -> (Int, TransportRequest) {
        let (slot, request) = table.allocate()
        if slot >= slotPeers.count {
            slotPeers.append(peer)
            slotIsSend.append(isSend)
            slotStripes.append(stripes)
        } else {
            slotPeers[slot] = peer
            slotIsSend[slot] = isSend
            slotStripes[slot] = stripes
        }
        return (slot, request)
    }

    // MARK: Waiting

    public func wait(_ request: TransportRequest, deadline: Deadline) throws(TransportError) {
        lock.lock()
        defer { lock.unlock() }
        guard let slot = table.slot(of: request) else {
            throw TransportError(.invalidArgument("unknown or spent request"), rank: rank, peer: nil, operation: "wait")
        }
        var first = true
        while true {
            if try table.settle(slot) { return }
            if closedFlag.load(ordering: .acquiring) {
                table.release(slot)
                throw TransportError(.closed, rank: rank, peer: slotPeers[slot], operation: slotIsSend[slot] ? "send" : "receive")
            }
            if first {
                // Optimistic passes: data may already be there, or the socket may take more.
                // Sleeping in poll and being woken costs tens of microseconds on a virtual
                // machine, so a short spin (``TCPOptions/spinMicroseconds``) pays for small messages.
                first = false
                let spinUntil = spinNanoseconds > 0 ? Deadline.now.uptimeNanoseconds &+ spinNanoseconds : 0
                repeat {
                    progressAll(readyOnly: false)
                    if case .pending = table.state(slot) { continue } else { break }
                } while Deadline.now.uptimeNanoseconds < spinUntil
                continue
            }
            if deadline.hasPassed {
                let peer = slotPeers[slot]
                table.release(slot)
                throw TransportError(.timedOut, rank: rank, peer: peer, operation: slotIsSend[slot] ? "send" : "receive",
                                     peerAddress: streams[peer].first?.socket.remoteDescription)
            }
            pollOnce(deadline: deadline)
            progressAll(readyOnly: true)
        }
    }

    /// Sleeps in `poll` on the sockets that can move queued work (and, for the others, on the
    /// peer hanging up, so a dead peer is noticed), until one is ready or the deadline passes.
    private func pollOnce(deadline: Deadline) {
        pollSet.removeAll(keepingCapacity: true)
        pollPeers.removeAll(keepingCapacity: true)
        for (index, connection) in connections.enumerated() where connection.failure == nil {
            var events: Int32 = 0
            if connection.hasPendingSends { events |= Int32(POLLOUT) }
            if connection.hasPendingReceives { events |= Int32(POLLIN) }
            if events == 0 {
                if connection.peerShutDown { continue }
                events = pollPeerHangUp
            }
            pollSet.append(pollfd(fd: connection.socket.descriptor, events: Int16(truncatingIfNeeded: events), revents: 0))
            pollPeers.append(index)
        }
        let count = nfds_t(pollSet.count)
        let timeout = deadline.pollTimeoutMilliseconds
        // Sleep without the lock would let close() in; close() shuts the sockets down, which
        // wakes this poll, so holding the lock is fine and keeps the state consistent.
        let rc = pollSet.withUnsafeMutableBufferPointer { poll($0.baseAddress, count, timeout) }
        if rc <= 0 {
            for i in pollSet.indices { pollSet[i].revents = 0 }
        }
    }

    /// Moves bytes on connections with queued work: all of them, or those `poll` marked ready.
    private func progressAll(readyOnly: Bool) {
        if readyOnly {
            for (index, entry) in pollSet.enumerated() where entry.revents != 0 {
                let connection = connections[pollPeers[index]]
                let revents = Int32(entry.revents)
                if !connection.hasPendingSends && !connection.hasPendingReceives {
                    if revents & Int32(POLLERR) != 0 {
                        fail(connection, TransportError(.peerGone, rank: rank, peer: connection.peer, operation: "idle",
                                                        peerAddress: connection.socket.remoteDescription))
                    } else {
                        connection.peerShutDown = true
                    }
                    continue
                }
                progress(connection)
            }
        } else {
            for connection in connections
            where connection.failure == nil && (connection.hasPendingSends || connection.hasPendingReceives) {
                progress(connection)
            }
        }
    }

    private func progress(_ connection: TCPConnection) {
        do {
            if connection.hasPendingSends {
                try connection.progressSends(rank: rank) { completeStripe($0) }
            }
            if connection.hasPendingReceives {
                try connection.progressReceives(rank: rank) { completeStripe($0) }
            }
        } catch {
            fail(connection, error)
        }
    }

    /// Marks a connection, and the other streams to its peer, broken and fails everything
    /// queued on them.
    private func fail(_ failed: TCPConnection, _ error: TransportError) {
        for connection in streams[failed.peer] {
            connection.failure = error
            for slot in connection.pendingSlots() {
                // Name the operation of each request, keeping the cause.
                let operation = slotIsSend[slot] ? "send" : "receive"
                table.fail(slot, TransportError(error.kind, rank: rank, peer: connection.peer, operation: operation,
                                                peerAddress: error.peerAddress ?? failed.socket.remoteDescription,
                                                mismatch: error.mismatch))
            }
            connection.dropPending()
            connection.socket.shutdown()
        }
    }

    // MARK: Closing

    public func close() {
        if closedFlag.exchange(true, ordering: .acquiringAndReleasing) { return }
        // Wake a thread sleeping in poll first, then take the lock and release everything.
        for connection in connections { connection.socket.shutdown() }
        lock.withLock {
            for connection in connections {
                for slot in connection.pendingSlots() {
                    table.fail(slot, TransportError(.closed, rank: rank, peer: connection.peer,
                                                    operation: slotIsSend[slot] ? "send" : "receive"))
                }
                connection.dropPending()
                connection.socket.close()
            }
        }
    }
}

/// `POLLRDHUP` (the peer shut down its writing side); Glibc hides it behind `_GNU_SOURCE`.
#if os(Linux)
let pollPeerHangUp: Int32 = 0x2000
#else
let pollPeerHangUp: Int32 = Int32(POLLHUP)
#endif
