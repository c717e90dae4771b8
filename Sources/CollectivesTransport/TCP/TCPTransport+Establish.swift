#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
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
        let streamCount = Swift.max(1, Swift.min(options.streams, 64))
        var sockets = [[Socket?]](repeating: [Socket?](repeating: nil, count: streamCount), count: worldSize)

        func configure(_ socket: Socket) {
            socket.setNoDelay()
            if options.socketBufferBytes > 0 { socket.setBufferSizes(options.socketBufferBytes) }
        }

        // 1. Connect to every lower rank, once per stream, and introduce ourselves.
        for peer in 0..<rank {
            for stream in 0..<streamCount {
                let address = peerAddresses[peer]
                let socket = try connectWithRetry(to: address, rank: rank, peer: peer, deadline: deadline)
                configure(socket)
                let hello = TCPHello(jobID: jobID, rank: rank, worldSize: worldSize, receiver: peer, stream: stream, streams: streamCount)
                let helloBytes = hello.encoded()
                let challenge = JobSecret.challenge()
                do {
                    try socket.sendAll(helloBytes + challenge, deadline: deadline, operation: "handshake")
                    let reply = try socket.receive(count: JobSecret.challengeSize + JobSecret.answerSize, deadline: deadline, operation: "handshake")
                    let theirs = Array(reply.prefix(JobSecret.challengeSize))
                    guard options.secret.accepts(Array(reply.dropFirst(JobSecret.challengeSize)), to: challenge,
                                                 context: TCPHello.acceptorContext(helloBytes)) else {
                        throw TransportError(.protocolViolation("rank \(peer) could not prove it belongs to this job (COLLECTIVES_JOB_SECRET differs or is missing)"),
                                             rank: rank, peer: peer, operation: "handshake", peerAddress: socket.remoteDescription)
                    }
                    try socket.sendAll(options.secret.answer(theirs, context: TCPHello.connectorContext(helloBytes)),
                                       deadline: deadline, operation: "handshake")
                } catch let error as TransportError {
                    throw error
                } catch let error as SocketError {
                    throw TransportError(error, rank: rank, peer: peer, operation: "handshake")
                } catch {
                    throw TransportError(.protocolViolation("\(error)"), rank: rank, peer: peer, operation: "handshake")
                }
                sockets[peer][stream] = socket
            }
        }

        // 2. Accept every stream of every higher rank.
        var missing = Set(((rank + 1)..<worldSize).flatMap { peer in (0..<streamCount).map { peer * 64 + $0 } })
        while !missing.isEmpty {
            let accepted: Socket?
            do {
                accepted = try listener.accept(deadline: deadline)
            } catch {
                throw TransportError(error, rank: rank, peer: nil, operation: "accept")
            }
            guard let socket = accepted else {
                throw TransportError(.timedOut, rank: rank, peer: missing.min().map { $0 / 64 },
                                     operation: "accept (waiting for ranks \(Set(missing.map { $0 / 64 }).sorted()))")
            }
            let helloDeadline = deadline.earlier(.after(seconds: options.helloTimeoutSeconds))
            let status: TCPHello.Status
            var from = -1, stream = 0
            do {
                let bytes = try socket.receive(count: TCPHello.size + JobSecret.challengeSize, deadline: helloDeadline, operation: "handshake")
                let helloBytes = Array(bytes.prefix(TCPHello.size))
                // Prove we know the secret, then have the connector prove it.
                let challenge = JobSecret.challenge()
                let proof = options.secret.answer(Array(bytes.dropFirst(TCPHello.size)), context: TCPHello.acceptorContext(helloBytes))
                try socket.sendAll(challenge + proof, deadline: helloDeadline, operation: "handshake")
                let answer = try socket.receive(count: JobSecret.answerSize, deadline: helloDeadline, operation: "handshake")
                switch TCPHello.decode(helloBytes) {
                case .failure(let error):
                    status = error.status
                case .success(let hello):
                    from = Int(hello.rank)
                    stream = Int(hello.stream)
                    let verdict = hello.validate(jobID: jobID, rank: rank, worldSize: worldSize, streams: streamCount)
                    if verdict != .accepted {
                        status = verdict
                    } else if !options.secret.accepts(answer, to: challenge, context: TCPHello.connectorContext(helloBytes)) {
                        status = .wrongSecret
                    } else {
                        status = missing.contains(from * 64 + stream) ? .accepted : .duplicateRank
                    }
                }
                try socket.sendAll(TCPHello.encodeReply(status), deadline: helloDeadline, operation: "handshake")
            } catch {
                logger.warning("rank \(rank): dropped a connection from \(socket.remoteDescription ?? "?") during the handshake: \(error)")
                continue
            }
            guard status == .accepted else {
                logger.warning("rank \(rank): refused a connection from \(socket.remoteDescription ?? "?") claiming rank \(from): \(status.explanation)")
                continue
            }
            configure(socket)
            sockets[from][stream] = socket
            missing.remove(from * 64 + stream)
        }

        // 3. Read each lower rank's answers.
        for peer in 0..<rank {
            for stream in 0..<streamCount {
                let socket = sockets[peer][stream]!
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
        logger.debug("rank \(rank): connected to \(worldSize - 1) peers over TCP")
        return TCPTransport(rank: rank, worldSize: worldSize, sockets: sockets.map { $0.compactMap { $0 } }, jobID: jobID,
                            options: options, logger: logger)
    }

    /// Connects, retrying refused connections (the peer may not listen yet) until the deadline.
    static func connectWithRetry(to address: SocketAddress, rank: Int, peer: Int?, deadline: Deadline,
                                 operation: String = "connect") throws(TransportError) -> Socket {
        var pause = 0.01
        while true {
            do {
                return try Socket.connect(to: address, deadline: deadline)
            } catch {
                let retryable: Bool
                if case .system(let e) = error, [ECONNREFUSED, ECONNRESET, EAGAIN, ETIMEDOUT].contains(e.errno) {
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

