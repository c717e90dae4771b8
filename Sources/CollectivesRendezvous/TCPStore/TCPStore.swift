import CollectivesSystem

/// A client of a ``TCPStoreServer``.
///
/// Connecting retries until the deadline, so ranks may start before the server does. Calls are
/// serialized on one connection. Client and server each prove they know the job's secret, and
/// every later frame is authenticated (``TCPStoreMessage``). After any failed call (a timeout, a
/// broken connection, a frame that fails its check) the connection is dropped, and the next call
/// makes a new one, so a reply meant for an earlier call can never answer a later one. A lost
/// server is ``RendezvousError/connectionLost(address:operation:cause:)``.
public final class TCPStore: Store, @unchecked Sendable {
    /// The server's address.
    public let serverAddress: SocketAddress
    private let secret: JobSecret
    private var connection: (socket: Socket, session: TCPStoreSession)?
    private let lock = ConditionLock()
    /// ``callTimeout`` in seconds, as the library reads it.
    package var callTimeoutSeconds: Double = 60

    /// Bounds calls that do not wait for keys (set, add, check), and reconnecting after a failed call.
    public var callTimeout: Duration {
        get { Duration(seconds: callTimeoutSeconds) }
        set { callTimeoutSeconds = newValue.inSeconds }
    }

    /// Connects to the server at `address`, retrying refused connections until `deadline`.
    ///
    /// A server that cannot prove it knows `secret` is refused
    /// (``RendezvousError/storeNotAuthentic(address:)``); a server that refuses this client's
    /// proof is an error saying the secrets differ.
    public init(connectingTo address: SocketAddress, deadline: Deadline, secret: JobSecret = .none) throws(RendezvousError) {
        serverAddress = address
        self.secret = secret
        connection = try Self.connect(to: address, secret: secret, deadline: deadline)
    }

    private static func connect(to address: SocketAddress, secret: JobSecret, deadline: Deadline) throws(RendezvousError) -> (Socket, TCPStoreSession) {
        var pause = 0.01
        var lastError = ""
        while true {
            do {
                let socket = try Socket.connect(to: address, deadline: deadline)
                socket.setNoDelay()
                socket.setLivenessTimeout(seconds: 30)
                let ours = JobSecret.challenge()
                try socket.sendAll(TCPStoreMessage.greeting() + ours, deadline: deadline, operation: "store greeting")
                let greeting = try socket.receive(count: 8, deadline: deadline, operation: "store greeting")
                guard let version = TCPStoreMessage.greetingVersion(greeting) else {
                    throw RendezvousError.protocolViolation("\(address) answered, but it is not a swift-collectives store")
                }
                guard version == TCPStoreMessage.version else {
                    throw RendezvousError.protocolViolation(
                        "the store at \(address) speaks protocol version \(version), this process \(TCPStoreMessage.version): run the same swift-collectives on every rank")
                }
                let answer = try socket.receive(count: TCPStoreMessage.serverAnswerBytes - 8, deadline: deadline, operation: "store greeting")
                let theirs = Array(answer.prefix(JobSecret.challengeSize))
                guard secret.accepts(Array(answer.dropFirst(JobSecret.challengeSize)), to: ours + theirs, context: TCPStoreMessage.serverContext) else {
                    throw RendezvousError.storeNotAuthentic(address: address.description)
                }
                try socket.sendAll(secret.answer(theirs + ours, context: TCPStoreMessage.clientContext), deadline: deadline, operation: "store greeting")
                let verdict = try socket.receive(count: 1, deadline: deadline, operation: "store greeting")
                guard verdict == [1] else {
                    throw RendezvousError.protocolViolation(
                        "the rendezvous store at \(address) refused this process: COLLECTIVES_JOB_SECRET differs from the job's (or is missing)")
                }
                return (socket, TCPStoreSession(secret: secret, clientChallenge: ours, serverChallenge: theirs, role: .client))
            } catch let error as RendezvousError {
                throw error
            } catch let error as SocketError {
                lastError = error.description
                if case .timedOut = error { break }
                if case .system(let e) = error, !e.mayConnectLater {
                    throw .storeUnreachable(address: address.description, cause: e)
                }
            } catch {
                lastError = "\(error)"
            }
            if deadline.remainingSeconds < pause { break }
            sleepSeconds(pause)
            pause = min(pause * 2, 0.25)
        }
        throw .timedOut(operation: "connecting to the rendezvous store at \(address) (last error: \(lastError))",
                        keys: [])
    }

    deinit { connection?.socket.close() }

    /// The local address of the connection to the server: an address of this host that the
    /// server's network can reach, which ranks advertise to each other by default.
    public func localAddress() throws(RendezvousError) -> SocketAddress {
        lock.lock()
        defer { lock.unlock() }
        do {
            return try connected().socket.localAddress()
        } catch let error as RendezvousError {
            throw error
        } catch let error as SocketError {
            throw .connectionLost(address: serverAddress.description, operation: "getsockname", cause: error)
        } catch {
            throw .protocolViolation("getsockname: \(error)")
        }
    }

    /// Closes the connection; a later call opens a new one.
    public func close() {
        lock.withLock {
            connection?.socket.close()
            connection = nil
        }
    }

    /// The connection, made again if the last call dropped it. Called with the lock held.
    private func connected() throws(RendezvousError) -> (socket: Socket, session: TCPStoreSession) {
        if let connection { return connection }
        let made = try Self.connect(to: serverAddress, secret: secret, deadline: .after(seconds: callTimeoutSeconds))
        connection = made
        return made
    }

    private func call(_ request: [UInt8], operation: String, waitSeconds: Double = 0) throws(RendezvousError) -> ByteReader {
        lock.lock()
        defer { lock.unlock() }
        let deadline = Deadline.after(seconds: callTimeoutSeconds + waitSeconds)
        var (socket, session) = try connected()
        // Whatever goes wrong below, this connection is not used again.
        connection = nil
        do {
            try session.send(request, on: socket, deadline: deadline, operation: operation)
            let response = try session.receive(on: socket, deadline: deadline, operation: operation)
            connection = (socket, session)
            return ByteReader(response)
        } catch let error as SocketError {
            socket.close()
            throw .connectionLost(address: serverAddress.description, operation: operation, cause: error)
        } catch let error as TCPStoreSession.FrameError {
            socket.close()
            switch error {
            case .socket(let error):
                throw .connectionLost(address: serverAddress.description, operation: operation, cause: error)
            case .tooLarge(let n): throw .protocolViolation("response frame of \(n) bytes to \(operation)")
            case .badTag: throw .protocolViolation("a response to \(operation) failed authentication")
            }
        } catch {
            socket.close()
            throw .protocolViolation("\(error)")
        }
    }

    private func status(_ r: inout ByteReader, operation: String, keys: [String]) throws(RendezvousError) {
        switch r.read(UInt8.self).flatMap(TCPStoreMessage.Status.init(rawValue:)) {
        case .ok: return
        case .timedOut: throw .timedOut(operation: operation, keys: keys)
        case .badRequest, nil: throw .protocolViolation("bad response to \(operation)")
        }
    }

    private static func milliseconds(_ deadline: Deadline) -> UInt64 {
        let s = deadline.remainingSeconds
        return s.isFinite ? UInt64(s * 1000) : UInt64(Int64.max)
    }

    public func set(_ key: String, _ value: [UInt8]) throws(RendezvousError) {
        var w = ByteWriter()
        w.write(TCPStoreMessage.Operation.set.rawValue)
        w.writeString(key)
        w.writeBytes(value)
        var r = try call(w.bytes, operation: "set")
        try status(&r, operation: "set", keys: [key])
    }

    public func get(_ key: String, deadline: Deadline) throws(RendezvousError) -> [UInt8] {
        var w = ByteWriter()
        w.write(TCPStoreMessage.Operation.get.rawValue)
        w.writeString(key)
        w.write(Self.milliseconds(deadline))
        var r = try call(w.bytes, operation: "get", waitSeconds: min(deadline.remainingSeconds, 1e9))
        try status(&r, operation: "get", keys: [key])
        guard let value = r.readBytes() else { throw .protocolViolation("bad response to get") }
        return value
    }

    public func add(_ key: String, _ delta: Int64) throws(RendezvousError) -> Int64 {
        var w = ByteWriter()
        w.write(TCPStoreMessage.Operation.add.rawValue)
        w.writeString(key)
        w.write(delta)
        var r = try call(w.bytes, operation: "add")
        try status(&r, operation: "add", keys: [key])
        guard let value = r.read(Int64.self) else { throw .protocolViolation("bad response to add") }
        return value
    }

    public func wait(_ keys: [String], deadline: Deadline) throws(RendezvousError) {
        var w = ByteWriter()
        w.write(TCPStoreMessage.Operation.wait.rawValue)
        TCPStoreMessage.writeKeys(keys, to: &w)
        w.write(Self.milliseconds(deadline))
        var r = try call(w.bytes, operation: "wait", waitSeconds: min(deadline.remainingSeconds, 1e9))
        do {
            try status(&r, operation: "wait", keys: keys)
        } catch {
            // Name only the keys still missing.
            if case .timedOut = error, let present = try? checkEach(keys) {
                throw .timedOut(operation: "wait", keys: zip(keys, present).filter { !$0.1 }.map(\.0))
            }
            throw error
        }
    }

    private func checkEach(_ keys: [String]) throws(RendezvousError) -> [Bool] {
        var result: [Bool] = []
        for key in keys { result.append(try check([key])) }
        return result
    }

    public func check(_ keys: [String]) throws(RendezvousError) -> Bool {
        var w = ByteWriter()
        w.write(TCPStoreMessage.Operation.check.rawValue)
        TCPStoreMessage.writeKeys(keys, to: &w)
        var r = try call(w.bytes, operation: "check")
        try status(&r, operation: "check", keys: keys)
        guard let flag = r.read(UInt8.self) else { throw .protocolViolation("bad response to check") }
        return flag != 0
    }
}

