import CollectivesSystem
import Logging

/// Serves a ``TCPStore`` to the ranks of a job: run by rank 0 (the default), or standalone.
///
/// One thread accepts connections and runs their opening exchanges side by side (a
/// ``HandshakeAcceptor``: at most 64 unfinished at once, 5 s per step, the oldest dropped when
/// more arrive, pauses instead of stopping when descriptors run out), so connections that say
/// nothing hold up no one. A client that proves it knows the job's secret (and has the server
/// prove it too) gets a thread of its own, so that a client that waits (`get`, `wait`) holds up no
/// one else; at most ``maximumClients`` at once. Malformed input closes that client's connection
/// and is logged; the server goes on. A thread the system cannot make is an error logged for
/// that client, not a crash.
public final class TCPStoreServer: @unchecked Sendable {
    /// The address the server listens on (with the port it got, if 0 was asked).
    public let address: SocketAddress
    /// Authenticated connections served at once; more are refused (and logged).
    package static let maximumClients = 8192
    private let listener: Socket
    private let state = InMemoryStore()
    /// The clients' requests waiting on this server for keys (`get` and `wait`).
    package var parkedWaiters: Int { state.gauge.value }
    private let lock = ConditionLock()
    private var clients: [ObjectIdentifier: Socket] = [:]
    private var threads: [ObjectIdentifier: SystemThread] = [:]
    private var finished: [SystemThread] = []
    private var acceptThread: SystemThread?
    private var stopped = false
    private let logger: Logger
    private let secret: JobSecret
    private let handshakeSeconds: Double

    /// Starts serving on `address`; port 0 picks a free one. A port in use is
    /// ``RendezvousError/cannotListen(address:cause:)``.
    ///
    /// Every client must prove it knows `secret`, and the server proves it to the client (HMAC
    /// over fresh challenges); one that does not is refused and logged, and the job goes on.
    /// `handshakeTimeout` bounds each step of a connection's opening exchange.
    /// With `ports` and port 0, the port is the first free one of that range
    /// (`COLLECTIVES_PORT_RANGE`).
    public init(listeningOn address: SocketAddress, ports: PortRange? = nil, secret: JobSecret = .none, handshakeTimeout: Duration = .seconds(5),
                logger: Logger = Logger(label: "collectives.store")) throws(RendezvousError) {
        self.secret = secret
        handshakeSeconds = handshakeTimeout.inSeconds
        do {
            listener = try Socket.listen(on: address, ports: ports)
            self.address = try listener.localAddress()
        } catch {
            throw .cannotListen(address: address.description, cause: error)
        }
        self.logger = logger
        do {
            acceptThread = try SystemThread(starting: "store-accept") { [self] in acceptLoop() }
        } catch {
            listener.close()
            throw .cannotListen(address: address.description, cause: .system(error))
        }
    }

    deinit { close() }

    /// Stops serving: wakes every client waiting in `get` or `wait`, closes every connection,
    /// and waits for the server's threads. Safe to call from several threads at once.
    public func close() {
        let (accepter, workers): (SystemThread?, [SystemThread]) = lock.withLock {
            if stopped { return (nil, []) }
            stopped = true
            listener.shutdown()
            for socket in clients.values { socket.shutdown() }
            let workers = Array(threads.values) + finished
            threads = [:]
            finished = []
            return (acceptThread, workers)
        }
        if accepter == nil && workers.isEmpty {
            // Another caller is closing: wait for it to finish.
            acceptThread?.join()
            return
        }
        state.close()
        accepter?.join()
        for thread in workers { thread.join() }
        listener.close()
    }

    private var isStopped: Bool { lock.withLock { stopped } }
    private var reportedKinds = Set<String>()

    /// Logs the first drop of each kind as a warning and the rest at debug level, so that a
    /// flood of bad input cannot flood the log.
    private func report(_ kind: String, _ line: Logger.Message) {
        if lock.withLock({ reportedKinds.insert(kind).inserted }) { logger.warning(line) } else { logger.debug(line) }
    }

    private func acceptLoop() {
        let acceptor = HandshakeAcceptor<TCPStoreSession>(
            listener: listener, openingBytes: TCPStoreMessage.openingBytes, stepTimeoutSeconds: handshakeSeconds)
        acceptor.onDrop = { [logger] reason, peer, detail, first in
            // The first drop of each kind is a warning; the rest are counted (debug).
            let line: Logger.Message = "store server: dropped a connection from \(peer) (\(reason.rawValue)\(detail.isEmpty ? "" : ": \(detail)"))"
            if first { logger.warning(line) } else { logger.debug(line) }
        }
        acceptor.onResourceShortage = { [logger] error in logger.error("store server: accept: \(error); pausing, then going on") }
        do {
            _ = try acceptor.run(deadline: .never, open: { [self] bytes in opening(bytes) }, accepted: { [self] socket, outcome in
                serveInThread(socket, session: outcome)
                return false
            }, shouldStop: { [self] in reapFinished() })
        } catch {
            if !isStopped { logger.error("store server: stopped accepting connections: \(error)") }
        }
    }

    /// Joins the threads of clients that left; whether the server is stopping.
    private func reapFinished() -> Bool {
        let (done, stop) = lock.withLock {
            let done = finished
            finished = []
            return (done, stopped)
        }
        for thread in done { thread.join() }
        return stop
    }

    /// Answers a client's greeting and challenge with ours and our proof.
    private func opening(_ bytes: [UInt8]) -> HandshakeStep<TCPStoreSession>? {
        guard TCPStoreMessage.greetingVersion(bytes) == TCPStoreMessage.version else { return nil }
        let theirs = Array(bytes.dropFirst(8))
        let ours = JobSecret.challenge()
        let proof = secret.answer(theirs + ours, context: TCPStoreMessage.serverContext)
        return HandshakeStep(reply: TCPStoreMessage.greeting() + ours + proof, expect: JobSecret.answerSize) { [secret] answer in
            guard secret.accepts(answer, to: ours + theirs, context: TCPStoreMessage.clientContext) else { return ([0], nil) }
            return ([1], TCPStoreSession(secret: secret, clientChallenge: theirs, serverChallenge: ours, role: .server))
        }
    }

    private func serveInThread(_ socket: Socket, session: TCPStoreSession) {
        let peer = socket.remoteDescription ?? "?"
        socket.setNoDelay()
        socket.setLivenessTimeout(seconds: 30)
        lock.lock()
        defer { lock.unlock() }
        guard !stopped, clients.count < Self.maximumClients else {
            if !stopped { logger.error("store server: refused \(peer): already serving \(Self.maximumClients) clients") }
            socket.close()
            return
        }
        let key = ObjectIdentifier(socket)
        clients[key] = socket
        do {
            threads[key] = try SystemThread(starting: "store-client") { [self] in
                serve(socket, session: session, peer: peer)
                lock.withLock {
                    clients.removeValue(forKey: key)
                    if let thread = threads.removeValue(forKey: key) { finished.append(thread) }
                }
                socket.close()
            }
        } catch {
            clients.removeValue(forKey: key)
            logger.error("store server: cannot serve \(peer): \(error)")
            socket.close()
        }
    }

    private func serve(_ socket: Socket, session: TCPStoreSession, peer: String) {
        var session = session
        while true {
            let request: [UInt8]
            do {
                request = try session.receive(on: socket, deadline: .never, operation: "store request")
            } catch {
                switch error {
                case .tooLarge(let n): report("too large", "store server: dropped \(peer): request frame of \(n) bytes")
                case .badTag: report("bad tag", "store server: dropped \(peer): a frame failed authentication")
                case .socket(let error):
                    if case .closedByPeer = error { return }
                    if !isStopped { logger.debug("store server: connection from \(peer) ended: \(error)") }
                }
                return
            }
            guard let response = handle(request) else {
                if !isStopped { report("malformed", "store server: dropped \(peer): malformed request") }
                return
            }
            do {
                try session.send(response, on: socket, deadline: .after(seconds: 60), operation: "store response")
            } catch {
                if !isStopped { logger.debug("store server: connection from \(peer) ended: \(error)") }
                return
            }
        }
    }

    /// Executes one request; `nil` for a malformed one.
    private func handle(_ request: [UInt8]) -> [UInt8]? {
        var r = ByteReader(request)
        guard let raw = r.read(UInt8.self), let operation = TCPStoreMessage.Operation(rawValue: raw) else { return nil }
        var w = ByteWriter()
        func status(_ s: TCPStoreMessage.Status) { w.write(s.rawValue) }
        do {
            switch operation {
            case .set:
                guard let key = r.readString(), let value = r.readBytes() else { return nil }
                try state.set(key, value)
                status(.ok)
            case .get:
                guard let key = r.readString(), let timeout = r.read(UInt64.self) else { return nil }
                do {
                    let value = try state.get(key, deadline: .after(seconds: Double(timeout) / 1000))
                    status(.ok)
                    w.writeBytes(value)
                } catch {
                    guard case .timedOut = error else { return nil }
                    status(.timedOut)
                }
            case .add:
                guard let key = r.readString(), let delta = r.read(Int64.self) else { return nil }
                status(.ok)
                w.write(try state.add(key, delta))
            case .wait:
                guard let keys = TCPStoreMessage.readKeys(&r), let timeout = r.read(UInt64.self) else { return nil }
                do {
                    try state.wait(keys, deadline: .after(seconds: Double(timeout) / 1000))
                    status(.ok)
                } catch {
                    guard case .timedOut = error else { return nil }
                    status(.timedOut)
                }
            case .check:
                guard let keys = TCPStoreMessage.readKeys(&r) else { return nil }
                status(.ok)
                w.write(UInt8(try state.check(keys) ? 1 : 0))
            }
        } catch {
            return nil
        }
        return w.bytes
    }
}
