import CollectivesSystem
import Logging

/// Serves a ``TCPStore`` to the ranks of a job: run by rank 0 (the default), or standalone.
///
/// One thread accepts connections and one thread serves each client, so a client that waits
/// (`get`, `wait`) holds up no one else. Malformed input closes that client's connection and is
/// logged; the server goes on.
public final class TCPStoreServer: @unchecked Sendable {
    /// The address the server listens on (with the port it got, if 0 was asked).
    public let address: SocketAddress
    private let listener: Socket
    private let state = InMemoryStore()
    private let lock = ConditionLock()
    private var clients: [ObjectIdentifier: Socket] = [:]
    private var threads: [SystemThread] = []
    private var acceptThread: SystemThread?
    private var stopped = false
    private let logger: Logger
    private let secret: JobSecret

    /// Starts serving on `address`; port 0 picks a free one. A port in use is
    /// ``RendezvousError/cannotListen(address:cause:)``.
    ///
    /// Every client must prove it knows `secret` (HMAC over a fresh challenge); one that does not
    /// is refused and logged, and the job goes on.
    public init(listeningOn address: SocketAddress, secret: JobSecret = .none, logger: Logger = Logger(label: "collectives.store")) throws(RendezvousError) {
        self.secret = secret
        do {
            listener = try Socket.listen(on: address)
            self.address = try listener.localAddress()
        } catch {
            throw .cannotListen(address: address.description, cause: error.description)
        }
        self.logger = logger
        acceptThread = SystemThread(name: "store-accept") { [self] in acceptLoop() }
    }

    deinit { close() }

    /// Stops serving: closes every connection and waits for the server's threads.
    public func close() {
        let (accepter, workers): (SystemThread?, [SystemThread]) = lock.withLock {
            if stopped { return (nil, []) }
            stopped = true
            listener.shutdown()
            for socket in clients.values { socket.shutdown() }
            let workers = threads
            threads = []
            return (acceptThread, workers)
        }
        accepter?.join()
        for thread in workers { thread.join() }
        listener.close()
    }

    private func acceptLoop() {
        while true {
            let socket: Socket?
            do {
                socket = try listener.accept(deadline: .never)
            } catch {
                if !lock.withLock({ stopped }) { logger.error("store server: accept failed: \(error)") }
                return
            }
            guard let socket else { continue }
            socket.setNoDelay()
            lock.withLock {
                if stopped {
                    socket.close()
                    return
                }
                clients[ObjectIdentifier(socket)] = socket
                threads.append(SystemThread(name: "store-client") { [self] in
                    serve(socket)
                    lock.withLock { _ = clients.removeValue(forKey: ObjectIdentifier(socket)) }
                    socket.close()
                })
            }
        }
    }

    private func serve(_ socket: Socket) {
        let peer = socket.remoteDescription ?? "?"
        do {
            let greeting = try socket.receive(count: 8, deadline: .after(seconds: 30), operation: "store greeting")
            guard TCPStoreMessage.isGreeting(greeting) else {
                logger.warning("store server: dropped \(peer): not a store client (bad greeting)")
                return
            }
            let challenge = JobSecret.challenge()
            try socket.sendAll(TCPStoreMessage.greeting() + challenge, deadline: .after(seconds: 30), operation: "store greeting")
            let answer = try socket.receive(count: JobSecret.answerSize, deadline: .after(seconds: 30), operation: "store greeting")
            guard secret.accepts(answer, to: challenge, context: TCPStoreMessage.authenticationContext) else {
                try? socket.sendAll([0], deadline: .after(seconds: 1), operation: "store greeting")
                logger.warning("store server: refused \(peer): wrong or missing job secret (COLLECTIVES_JOB_SECRET)")
                return
            }
            try socket.sendAll([1], deadline: .after(seconds: 30), operation: "store greeting")
            while true {
                guard let request = try TCPStoreMessage.receive(on: socket, deadline: .never, operation: "store request") else {
                    logger.warning("store server: dropped \(peer): request frame too large")
                    return
                }
                guard let response = handle(request) else {
                    logger.warning("store server: dropped \(peer): malformed request")
                    return
                }
                try TCPStoreMessage.send(response, on: socket, deadline: .after(seconds: 60), operation: "store response")
            }
        } catch {
            if case .closedByPeer = error { return }
            if !lock.withLock({ stopped }) { logger.debug("store server: connection from \(peer) ended: \(error)") }
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
