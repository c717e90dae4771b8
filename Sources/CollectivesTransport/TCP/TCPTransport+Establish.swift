import CollectivesSystem
import Logging

extension TCPTransport {
    /// Connects this rank to every other rank and checks each connection with a ``TCPHello``.
    ///
    /// Rank *r* connects to every rank below it and accepts a connection from every rank above
    /// it, so each pair has exactly one connection. The three phases (connect and say hello to
    /// lower ranks; accept and answer higher ranks; read the lower ranks' answers) cannot
    /// deadlock, because no rank waits for an answer before it has answered everyone.
    ///
    /// A connection that does not introduce itself properly (another program, another job, a
    /// rank that is not expected) is refused, logged, and does not stop the job.
    ///
    /// - Parameters:
    ///   - listener: this rank's listening socket; its address is `peerAddresses[rank]`.
    ///   - peerAddresses: every rank's listening address, by rank.
    ///   - deadline: bounds the whole set-up.
    public static func establish(
        rank: Int,
        worldSize: Int,
        jobID: UInt64,
        listener: Socket,
        peerAddresses: [SocketAddress],
        options: TCPOptions = TCPOptions(),
        deadline: Deadline,
        logger: Logger = Logger(label: "collectives.tcp")
    ) throws(TransportError) -> TCPTransport {
        precondition(peerAddresses.count == worldSize && rank >= 0 && rank < worldSize)
        let acceptor = try TCPAcceptor(listener: listener, rank: rank, worldSize: worldSize, jobID: jobID, options: options,
                                       deadline: deadline, logger: logger)
        return try establish(acceptedBy: acceptor, peerAddresses: peerAddresses, deadline: deadline)
    }

    /// Like the public `establish`, over `acceptor`, which has accepted higher ranks'
    /// connections since the listener was opened (and says which rank, group, job and options).
    package static func establish(acceptedBy acceptor: TCPAcceptor, peerAddresses: [SocketAddress],
                                  deadline: Deadline) throws(TransportError) -> TCPTransport {
        defer { acceptor.stop() }
        let (rank, worldSize, jobID, options, logger) = (acceptor.rank, acceptor.worldSize, acceptor.jobID, acceptor.options, acceptor.logger)
        precondition(peerAddresses.count == worldSize)
        let streamCount = Swift.max(1, Swift.min(options.streams, 64))
        var sockets = [[Socket?]](repeating: [Socket?](repeating: nil, count: streamCount), count: worldSize)
        var frameKeys = [[[UInt8]?]](repeating: [[UInt8]?](repeating: nil, count: streamCount), count: worldSize)
        let connector = LowerRankConnector(rank: rank, worldSize: worldSize, streamCount: streamCount, jobID: jobID,
                                           options: options, deadline: deadline)

        // 1. Connect to every lower rank, once per stream, and introduce ourselves.
        for peer in 0..<rank {
            for stream in 0..<streamCount {
                (sockets[peer][stream], frameKeys[peer][stream]) = try connector.connect(to: peer, stream: stream, at: peerAddresses[peer])
            }
        }

        // 2. Every stream of every higher rank, accepted by the acceptor's thread (started by
        //    the caller when it began listening).
        let accepted = try acceptor.connections(deadline: deadline)
        for peer in (rank + 1)..<max(rank + 1, worldSize) {
            for stream in 0..<streamCount {
                guard let connection = accepted[peer][stream] else { continue }
                configure(connection.socket, options: options)
                sockets[peer][stream] = connection.socket
                frameKeys[peer][stream] = connection.frameKey
            }
        }

        // 3. Read each lower rank's answers.
        for peer in 0..<rank {
            for stream in 0..<streamCount { try connector.readAnswer(from: sockets[peer][stream]!, peer: peer) }
        }
        logger.debug("rank \(rank): connected to \(worldSize - 1) peers over TCP")
        return TCPTransport(rank: rank, worldSize: worldSize, sockets: sockets.map { $0.compactMap { $0 } }, jobID: jobID,
                            options: options, frameKeys: options.authenticateFrames ? frameKeys : [], logger: logger)
    }

    /// Sets a data connection's options: no Nagle delay, liveness probes, buffer sizes.
    static func configure(_ socket: Socket, options: TCPOptions) {
        socket.setNoDelay()
        socket.setLivenessTimeout(seconds: options.livenessTimeoutSeconds)
        if options.socketBufferBytes > 0 { socket.setBufferSizes(options.socketBufferBytes) }
    }

    /// Connects, retrying refused connections (the peer may not listen yet) until the deadline.
    static func connectWithRetry(to address: SocketAddress, rank: Int, peer: Int?, deadline: Deadline,
                                 operation: TransportOperation = .connect) throws(TransportError) -> Socket {
        var pause = 0.01
        while true {
            do {
                return try Socket.connect(to: address, deadline: deadline)
            } catch {
                let retryable: Bool
                if case .system(let e) = error, e.isRefusedForNow {
                    retryable = true
                } else {
                    retryable = false
                }
                if !retryable || deadline.remainingSeconds < pause {
                    throw TransportError(error, rank: rank, peer: peer, operation: operation)
                }
                sleepSeconds(pause)
                pause = min(pause * 2, 0.5)
            }
        }
    }
}

/// One rank's side of its connections to the lower ranks: it connects, introduces itself (the
/// hello and a mutual proof of the job's secret), and later reads each peer's verdict.
private struct LowerRankConnector {
    let rank: Int
    let worldSize: Int
    let streamCount: Int
    let jobID: UInt64
    let options: TCPOptions
    let deadline: Deadline

    /// Connects stream `stream` to `peer` at `address` and introduces this rank; returns the
    /// socket and, when frames are authenticated, the connection's key. A connection closed
    /// before the peer answered (its listener dropped it: too many strangers at once) is made
    /// again, until the deadline.
    func connect(to peer: Int, stream: Int, at address: SocketAddress) throws(TransportError) -> (Socket, [UInt8]?) {
        let hello = TCPHello(jobID: jobID, rank: rank, worldSize: worldSize, receiver: peer, stream: stream, streams: streamCount,
                             authenticatesFrames: options.authenticateFrames).encoded()
        var pause = 0.01
        while true {
            // The peer listens (and answers) before it publishes its address, so a connection
            // that cannot be made within the reach timeout will not be made: say which pair and
            // which address, now rather than at the job's deadline.
            let socket = try TCPTransport.connectWithRetry(
                to: address, rank: rank, peer: peer, deadline: deadline.earlier(.after(seconds: options.connectTimeoutSeconds)),
                operation: TransportOperation("reaching rank \(peer) at \(address), the address it advertised (is it on a network this host can reach? "
                    + "see COLLECTIVES_SOCKET_IFNAME, and firewalls between the hosts)"))
            TCPTransport.configure(socket, options: options)
            var answered = false
            do {
                return (socket, try introduce(over: socket, hello: hello, to: peer, answered: &answered))
            } catch let error as TransportError {
                throw error
            } catch let error as SocketError {
                var dropped = false
                if case .closedByPeer = error { dropped = true }
                if case .system(let e) = error, e.isConnectionDropped { dropped = true }
                guard dropped && !answered && deadline.remainingSeconds > pause else {
                    throw TransportError(error, rank: rank, peer: peer, operation: "handshake")
                }
                socket.close()
                sleepSeconds(pause)
                pause = Swift.min(pause * 2, 0.5)
            } catch {
                throw TransportError(.protocolViolation("\(error)"), rank: rank, peer: peer, operation: "handshake")
            }
        }
    }

    /// Sends the hello and a challenge, checks the peer's proof of the secret, answers its
    /// challenge; returns the frame key when frames are authenticated. `answered` is set once
    /// the peer has replied.
    private func introduce(over socket: Socket, hello: [UInt8], to peer: Int, answered: inout Bool) throws -> [UInt8]? {
        let challenge = JobSecret.challenge()
        try socket.sendAll(hello + challenge, deadline: deadline, operation: "handshake")
        let reply = try socket.receive(count: JobSecret.challengeSize + JobSecret.answerSize, deadline: deadline, operation: "handshake")
        answered = true
        let theirs = Array(reply.prefix(JobSecret.challengeSize))
        guard options.secret.accepts(Array(reply.dropFirst(JobSecret.challengeSize)), to: challenge,
                                     context: TCPHello.acceptorContext(hello)) else {
            throw TransportError(.protocolViolation("rank \(peer) could not prove it belongs to this job (COLLECTIVES_JOB_SECRET differs or is missing)"),
                                 rank: rank, peer: peer, operation: "handshake", peerAddress: socket.remoteDescription)
        }
        try socket.sendAll(options.secret.answer(theirs, context: TCPHello.connectorContext(hello)), deadline: deadline, operation: "handshake")
        guard options.authenticateFrames else { return nil }
        return TCPHello.frameKey(secret: options.secret, hello: hello, connectorChallenge: challenge, acceptorChallenge: theirs)
    }

    /// Reads `peer`'s verdict on this rank's connection: accepted, or why not.
    func readAnswer(from socket: Socket, peer: Int) throws(TransportError) {
        let reply: [UInt8]
        do {
            reply = try socket.receive(count: TCPHello.replySize, deadline: deadline, operation: "handshake")
        } catch {
            throw TransportError(error, rank: rank, peer: peer, operation: "handshake")
        }
        guard let status = TCPHello.decodeReply(reply) else {
            throw TransportError(.protocolViolation("handshake answer is not from swift-collectives"),
                                 rank: rank, peer: peer, operation: "handshake", peerAddress: socket.remoteDescription)
        }
        guard status == .accepted else {
            throw TransportError(.protocolViolation("rank \(peer) refused the connection: \(status.explanation)"),
                                 rank: rank, peer: peer, operation: "handshake", peerAddress: socket.remoteDescription)
        }
    }
}
