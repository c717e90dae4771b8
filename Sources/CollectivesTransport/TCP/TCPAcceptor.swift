import CollectivesSystem
import Logging

/// A higher rank's connection, accepted and handshaken, and its key when frames are
/// authenticated (``TCPOptions/authenticateFrames``).
package struct AcceptedConnection: Sendable {
    package let socket: Socket
    package let frameKey: [UInt8]?
}

/// Accepts the data connections of the ranks above this one on a thread of its own, from the
/// moment the rank listens (before the peers' addresses are even known), so that connections
/// from strangers are answered and dropped as they come instead of filling the listen backlog
/// while the rank waits for the last peer to arrive.
///
/// Handshakes run side by side through a ``HandshakeAcceptor`` (at most
/// ``TCPOptions/maximumPendingHandshakes`` unfinished, ``TCPOptions/helloTimeoutSeconds`` per
/// step, the oldest dropped when more arrive); a connection is kept only if it proves the job's
/// secret and claims a rank and stream this rank expects and does not have yet.
package final class TCPAcceptor: @unchecked Sendable {
    /// The rank accepting, its group's size, its job and the options the connections are made
    /// with: what `TCPTransport.establish(acceptedBy:peerAddresses:deadline:)` builds on.
    package let rank: Int
    package let worldSize: Int
    package let jobID: UInt64
    package let options: TCPOptions
    package let logger: Logger
    private let lock = ConditionLock()
    /// The accepted connections by rank and stream, with their frame keys.
    private var accepted: [[AcceptedConnection?]]
    private var missing: Set<Int>
    private var failure: TransportError?
    private var stopped = false
    private var finished = false
    private var thread: SystemThread?
    private let listener: Socket

    /// Starts accepting on `listener` for `rank` of `worldSize` in job `jobID`, until every
    /// higher rank's streams are in, ``stop()``, or `deadline`.
    package init(listener: Socket, rank: Int, worldSize: Int, jobID: UInt64, options: TCPOptions, deadline: Deadline,
                logger: Logger) throws(TransportError) {
        self.rank = rank
        self.worldSize = worldSize
        self.jobID = jobID
        self.options = options
        self.logger = logger
        self.listener = listener
        let streamCount = Swift.max(1, Swift.min(options.streams, 64))
        accepted = [[AcceptedConnection?]](repeating: [AcceptedConnection?](repeating: nil, count: streamCount), count: worldSize)
        missing = Set(((rank + 1)..<worldSize).flatMap { peer in (0..<streamCount).map { peer * 64 + $0 } })
        if missing.isEmpty {
            finished = true
            return
        }
        do {
            thread = try SystemThread(starting: "collectives-accept") { [self] in
                run(worldSize: worldSize, jobID: jobID, streams: streamCount, options: options, deadline: deadline, logger: logger)
            }
        } catch {
            throw TransportError(.protocolViolation("cannot start the accepting thread: \(error)"), rank: rank, peer: nil, operation: "accept")
        }
    }

    deinit { stop() }

    private func run(worldSize: Int, jobID: UInt64, streams: Int, options: TCPOptions, deadline: Deadline, logger: Logger) {
        let rank = self.rank
        let acceptor = HandshakeAcceptor<(from: Int, stream: Int, key: [UInt8]?)>(
            listener: listener, openingBytes: TCPHello.size + JobSecret.challengeSize,
            maximumPending: options.maximumPendingHandshakes, stepTimeoutSeconds: options.helloTimeoutSeconds)
        acceptor.onDrop = { reason, peer, detail, first in
            let line: Logger.Message = "rank \(rank): dropped a connection from \(peer) during the handshake (\(reason.rawValue)\(detail.isEmpty ? "" : ": \(detail)"))"
            if first { logger.warning(line) } else { logger.debug(line) }
        }
        acceptor.onResourceShortage = { error in logger.error("rank \(rank): accept: \(error); pausing, then going on") }
        let open: ([UInt8]) -> HandshakeStep<(from: Int, stream: Int, key: [UInt8]?)>? = { [self] bytes in
            let helloBytes = Array(bytes.prefix(TCPHello.size))
            // Prove we know the secret, then have the connector prove it.
            let challenge = JobSecret.challenge()
            let proof = options.secret.answer(Array(bytes.dropFirst(TCPHello.size)), context: TCPHello.acceptorContext(helloBytes))
            return HandshakeStep(reply: challenge + proof, expect: JobSecret.answerSize) { [self] answer in
                let status: TCPHello.Status
                var claim: (from: Int, stream: Int, key: [UInt8]?)?
                switch TCPHello.decode(helloBytes) {
                case .failure(let error):
                    status = error.status
                case .success(let hello):
                    let verdict = hello.validate(jobID: jobID, rank: rank, worldSize: worldSize, streams: streams,
                                                 authenticatesFrames: options.authenticateFrames)
                    if verdict != .accepted {
                        status = verdict
                    } else if !options.secret.accepts(answer, to: challenge, context: TCPHello.connectorContext(helloBytes)) {
                        status = .wrongSecret
                    } else if lock.withLock({ missing.contains(Int(hello.rank) * 64 + Int(hello.stream)) }) {
                        status = .accepted
                        let key = options.authenticateFrames
                            ? TCPHello.frameKey(secret: options.secret, hello: helloBytes, connectorChallenge: Array(bytes.dropFirst(TCPHello.size)),
                                                acceptorChallenge: challenge)
                            : nil
                        claim = (Int(hello.rank), Int(hello.stream), key)
                    } else {
                        status = .duplicateRank
                    }
                    if status != .accepted {
                        logger.warning("rank \(rank): refused a connection claiming rank \(hello.rank): \(status.explanation)")
                    }
                }
                return (TCPHello.encodeReply(status), claim)
            }
        }
        let outcome: Result<Bool, SocketError> = Result { () throws(SocketError) in
            try acceptor.run(deadline: deadline, open: open, accepted: { [self] socket, claim in
                lock.withLock {
                    accepted[claim.from][claim.stream] = AcceptedConnection(socket: socket, frameKey: claim.key)
                    missing.remove(claim.from * 64 + claim.stream)
                    lock.broadcast()
                    return missing.isEmpty
                }
            }, shouldStop: { [self] in lock.withLock { stopped } })
        }
        lock.withLock {
            switch outcome {
            case .failure(let error) where !stopped:
                failure = TransportError(error, rank: rank, peer: nil, operation: "accept")
            case .success(false):
                failure = waitingError()
            default:
                break
            }
            finished = true
            lock.broadcast()
        }
    }

    /// Waits until every higher rank's streams are in (by rank and stream), or throws why not.
    package func connections(deadline: Deadline) throws(TransportError) -> [[AcceptedConnection?]] {
        lock.lock()
        defer { lock.unlock() }
        while !missing.isEmpty && failure == nil && !finished {
            if !lock.wait(until: deadline), deadline.hasPassed { break }
        }
        if let failure { throw failure }
        guard missing.isEmpty else { throw waitingError() }
        return accepted
    }

    /// The timeout of an accept that still misses ranks (lock held).
    private func waitingError() -> TransportError {
        TransportError(.timedOut, rank: rank, peer: missing.min().map { $0 / 64 },
                       operation: TransportOperation("accept (waiting for ranks \(Set(missing.map { $0 / 64 }).sorted()))"))
    }

    /// Stops accepting and waits for the thread; connections not yet taken are closed.
    package func stop() {
        let running: SystemThread? = lock.withLock {
            stopped = true
            return thread
        }
        running?.join()
    }
}
