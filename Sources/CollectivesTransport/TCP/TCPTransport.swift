import CollectivesSystem
import Logging

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
public final class TCPTransport: TransportEngine, TransportMedium, @unchecked Sendable {
    /// `"tcp"`.
    public override var name: String { "tcp" }

    /// Every connection, and by peer the connections to it in stream order.
    private let connections: [TCPConnection]
    private let streams: [[TCPConnection]]
    private let stripeThreshold: Int
    private var pollSet = PollSet()
    private var pollPeers: [Int] = []

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
        self.jobID = jobID
        self.options = options
        self.logger = logger
        streams = sockets.enumerated().map { peer, list in
            list.enumerated().map { stream, socket in
                TCPConnection(peer: peer, rank: rank, socket: socket, key: peer < frameKeys.count && stream < frameKeys[peer].count ? frameKeys[peer][stream] : nil)
            }
        }
        connections = streams.flatMap { $0 }
        pollPeers.reserveCapacity(worldSize)
        super.init(rank: rank, worldSize: worldSize, policy: options.waitPolicy)
        adopt(self, owned: false)
    }

    deinit { close() }

    /// The local address of this rank's connections (its address on the network they use).
    func localAddress() throws(SocketError) -> SocketAddress {
        guard let connection = connections.first else { return .loopback(port: 0) }
        return try connection.socket.localAddress()
    }

    // MARK: Posting

    /// Queues `message` on the pair's streams, striped when it is large; a send starts at once
    /// (small messages usually leave in this one call).
    func enqueue(_ message: Message, peer: Int, isSend: Bool) throws(TransportError) {
        let lanes = try usableStreams(peer, operation: isSend ? .send : .receive)
        let stripes = stripeCount(message.count, lanes.count)
        if stripes > 1 { requests.pointee.split(message.request, into: stripes) }
        for index in 0..<stripes {
            let range = Self.stripe(index, of: message.count, into: stripes)
            let stripe = TCPConnection.Pending(base: message.base.map { $0 + range.lowerBound }, count: range.count, tag: message.tag,
                                               done: 0, request: message.request)
            let connection = lanes[index]
            if !isSend {
                connection.enqueueReceive(stripe)
                continue
            }
            let wasIdle = !connection.hasPendingSends
            connection.enqueueSend(stripe)
            guard wasIdle else { continue }
            do throws(TransportError) {
                _ = try connection.progressSends(rank: rank) { requests.pointee.complete($0) }
            } catch {
                fail(connection, error)
            }
        }
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

    private func usableStreams(_ peer: Int, operation: TransportOperation) throws(TransportError) -> [TCPConnection] {
        guard !streams[peer].isEmpty else {
            throw TransportError(.invalidArgument("peer \(peer) is not another rank of 0..<\(worldSize)"),
                                 rank: rank, peer: peer, operation: operation)
        }
        if let failure = streams[peer].first(where: { $0.failure != nil })?.failure { throw failure }
        return streams[peer]
    }

    // MARK: Sleeping

    /// Sleeps in `poll` until a socket with work is ready or `nanoseconds` pass. Holding the lock
    /// is fine: the engine's `fail` shuts the sockets down first (``interrupt()``), which wakes
    /// the poll.
    func sleep(_ nanoseconds: UInt64, releasing lock: ConditionLock) {
        pollOnce(timeoutNanoseconds: nanoseconds)
    }

    /// Moves the connections `poll` found ready.
    func progressAfterSleep() -> Bool { progressAll(readyOnly: true) }

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
            if connection.hasPendingSends, try connection.progressSends(rank: rank, complete: { requests.pointee.complete($0) }) { moved = true }
            if connection.hasPendingReceives, try connection.progressReceives(rank: rank, complete: { requests.pointee.complete($0) }) { moved = true }
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
                let operation: TransportOperation = requests.pointee.isSend(request) ? .send : .receive
                requests.pointee.fail(request, TransportError(error.kind, rank: rank, peer: connection.peer, operation: operation,
                                                   peerAddress: error.peerAddress ?? failed.socket.remoteDescription,
                                                   mismatch: error.mismatch))
            }
            connection.dropPending()
            connection.socket.shutdown()
        }
    }

    // MARK: What the engine asks besides

    func progress() -> Bool { progressAll(readyOnly: false) }

    var hasQueuedWork: Bool { connections.contains { $0.failure == nil && ($0.hasPendingSends || $0.hasPendingReceives) } }

    func peerAddress(_ peer: Int) -> String? { streams[peer].first?.socket.remoteDescription }

    /// Shuts every socket down, which wakes a thread asleep in `poll`.
    func interrupt() {
        for connection in connections { connection.socket.shutdown() }
    }

    /// Drops every queued operation and shuts every connection down, so that peers see this
    /// rank as gone at once.
    func dropAll() {
        for connection in connections {
            connection.dropPending()
            connection.socket.shutdown()
        }
    }

    func release() {
        for connection in connections { connection.socket.close() }
    }
}
