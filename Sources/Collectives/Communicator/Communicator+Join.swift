import CollectivesBootstrap
import CollectivesRendezvous
import CollectivesSystem

/// Growing a job: processes started after it began join at a point the job chooses (an epoch
/// boundary), as torchrun's elastic agent and Horovod elastic allow.
///
/// A joining process takes a ticket in the job's store (``join(store:options:timeout:)``) and
/// waits. At its next boundary the job's ranks call ``admitJoining(maximumWorldSize:awaiting:)``
/// together: rank 0 admits the waiting tickets (up to `maximumWorldSize`), tells each its rank
/// (after the job's ranks, in ticket order), and everyone, old and new, connects afresh as one
/// communicator under a new generation of the store. The job's ranks keep their numbers.
extension Communicator {
    /// Collective over this communicator: admits the processes waiting to join (see
    /// ``join(store:options:timeout:)``), at most as many as keep the job at
    /// `maximumWorldSize` ranks. Returns the larger communicator, or `nil` on every rank when
    /// nobody was admitted (nobody waits, or there is no room). Needs the rendezvous store, as
    /// ``shrink(grace:)`` does. With `awaiting` > 0, rank 0 first waits, up to half the
    /// communicator's timeout, until that many processes wait to join (a job that must grow
    /// before it goes on).
    ///
    /// The store's connection moves to the new communicator: close this one after it, and if the
    /// new one fails, abort it rather than close it before calling ``shrink(grace:)`` on this one.
    /// Each attempt, even one that fails, uses up a generation of this communicator's store keys,
    /// so a later ``shrink(grace:)`` or admission does not meet its leftovers.
    public func admitJoining(maximumWorldSize: Int? = nil, awaiting: Int = 0) throws(CollectivesError) -> Communicator? {
        let generation = elasticGeneration + 1
        let operation = "admitting joining ranks (generation \(generation))"
        guard let bootstrapped, let store = elasticStore else {
            throw CollectivesError(.invalidArgument, rank: rank, operation: operation,
                                   reason: "admitting ranks needs the rendezvous store: make the communicator from the environment or from a store")
        }
        // Rank 0 decides and claims the tickets it admits; -1 tells the others it failed.
        var plan: [Int64] = [0]
        var admitted: [Int64] = []
        var decisionError: CollectivesError?
        if rank == 0 {
            do {
                let room = maximumWorldSize.map { Swift.max(0, $0 - worldSize) } ?? .max
                admitted = try JoinKeys.claimWaitingTickets(in: store, room: room, awaiting: awaiting,
                                                            waitSeconds: options.timeoutSeconds / 2, rank: rank, operation: operation)
                plan = [Int64(admitted.count)]
            } catch {
                decisionError = error
                plan = [-1]
            }
        }
        try broadcast(&plan, root: 0)
        if plan[0] < 0 {
            throw decisionError ?? CollectivesError(.rendezvous, rank: rank, operation: operation, peer: 0,
                                                    reason: "rank 0 could not admit the waiting processes (its error says why)")
        }
        let count = Int(plan[0])
        guard count > 0 else { return nil }
        elasticGeneration = generation
        let grown = worldSize + count
        if rank == 0 {
            do {
                for (i, ticket) in admitted.enumerated() {
                    try store.set(JoinKeys.admission(ticket: ticket), string: "\(generation),\(worldSize + i),\(grown)")
                }
            } catch {
                throw CollectivesError(error, rank: rank, operation: operation)
            }
        }
        logger.info("rank \(rank): admitting \(count) joining rank\(count == 1 ? "" : "s"); going on as rank \(rank) of \(grown)")
        let next = try Self.connect(store: store, generation: generation, rank: rank, worldSize: grown, options: options, operation: operation)
        bootstrapped.shareStore(with: next)
        let communicator = Communicator(transport: next.transport, options: options, bootstrapped: next)
        communicator.elasticGeneration = generation
        communicator.elasticStoreOverride = store
        return communicator
    }

    /// Joins a running job through its store (the one its launcher serves): takes a ticket,
    /// waits until the job's ranks admit it (``admitJoining(maximumWorldSize:awaiting:)``) or `timeout`
    /// passes, then connects to them. The new rank comes after the job's ranks. `store` stays
    /// the caller's (it is not closed with the communicator).
    public static func join(store: any Store, options: CommunicatorOptions = CommunicatorOptions(),
                            timeout: Duration = .seconds(600)) throws(CollectivesError) -> Communicator {
        let operation = "joining a running job"
        let seconds = timeout.inSeconds
        let admission: [Int]
        let ticket: Int64
        do {
            ticket = try store.add(JoinKeys.tickets, 1)
        } catch {
            throw CollectivesError(error, rank: nil, operation: operation)
        }
        var text: String?
        var gaveUp = false
        do {
            text = try store.getString(JoinKeys.admission(ticket: ticket), deadline: Deadline.after(seconds: seconds))
        } catch .timedOut {
            // Give the ticket up, unless rank 0 claimed it first: then its admission is on the way.
            do {
                gaveUp = try store.add(JoinKeys.claim(ticket: ticket), 1) == 1
            } catch {
                throw CollectivesError(error, rank: nil, operation: operation)
            }
        } catch {
            throw CollectivesError(error, rank: nil, operation: operation)
        }
        if gaveUp {
            throw CollectivesError(.timedOut, rank: nil, operation: operation,
                                   reason: "ticket \(ticket) was not admitted within \(seconds) s: the job may have ended, or be at its maximum size")
        }
        if text == nil {
            do {
                text = try store.getString(JoinKeys.admission(ticket: ticket), deadline: Deadline.after(seconds: options.timeoutSeconds))
            } catch {
                throw CollectivesError(error, rank: nil, operation: operation)
            }
        }
        admission = text!.split(separator: ",").compactMap { Int($0) }
        guard admission.count == 3 else {
            throw CollectivesError(.rendezvous, rank: nil, operation: operation, reason: "the job's store holds a malformed admission for ticket \(ticket)")
        }
        let next = try connect(store: store, generation: admission[0], rank: admission[1], worldSize: admission[2], options: options,
                               operation: operation)
        let communicator = Communicator(transport: next.transport, options: options, bootstrapped: next)
        communicator.elasticGeneration = admission[0]
        communicator.elasticStoreOverride = store
        communicator.logger.info("rank \(admission[1]): joined a job of \(admission[2]) ranks (ticket \(ticket))")
        return communicator
    }

    /// ``join(store:options:timeout:)`` through the store a launcher serves: `MASTER_ADDR`,
    /// `MASTER_PORT` and `COLLECTIVES_JOB_SECRET` as the job's ranks have them (no `RANK` or
    /// `WORLD_SIZE`: the job assigns them), `COLLECTIVES_TIMEOUT` for the connections. The
    /// store connection closes with the communicator.
    public static func joinFromEnvironment(options: CommunicatorOptions = CommunicatorOptions(),
                                           timeout: Duration = .seconds(600)) throws(CollectivesError) -> Communicator {
        let environment = ProcessEnvironment.current()
        let operation = "joining a running job"
        func invalid(_ reason: String) -> CollectivesError { CollectivesError(.configuration, rank: nil, operation: operation, reason: reason) }
        guard let host = environment["MASTER_ADDR"], !host.isEmpty else { throw invalid("MASTER_ADDR (the job's store) is not set") }
        guard let portText = environment["MASTER_PORT"], let port = UInt16(portText), port > 0 else {
            throw invalid("MASTER_PORT \(environment["MASTER_PORT"] ?? "(not set)") is not a port")
        }
        var options = options
        try options.applyTuning(from: environment)
        if let text = environment["COLLECTIVES_TIMEOUT"] {
            guard let value = Double(text), value > 0, value.isFinite else { throw invalid("COLLECTIVES_TIMEOUT=\(text) is not a positive number of seconds") }
            options.timeoutSeconds = value
        }
        if let secret = environment["COLLECTIVES_JOB_SECRET"], !secret.isEmpty { options.tcp.secret = JobSecret(secret) }
        let store: TCPStore
        do {
            guard let address = try SocketAddress.resolve(host: host, port: port).first else { throw invalid("MASTER_ADDR \(host) has no address") }
            store = try TCPStore(connectingTo: address, deadline: Deadline.after(seconds: options.timeoutSeconds), secret: options.tcp.secret)
        } catch let error as CollectivesError {
            throw error
        } catch let error as RendezvousError {
            throw CollectivesError(error, rank: nil, operation: operation)
        } catch {
            throw CollectivesError(.rendezvous, rank: nil, operation: operation, reason: "cannot reach the job's store at \(host):\(port): \(error)")
        }
        do {
            let communicator = try join(store: store, options: options, timeout: timeout)
            communicator.bootstrapped?.adoptStore()
            return communicator
        } catch {
            store.close()
            throw error
        }
    }

    /// Connects `worldSize` ranks afresh under generation `generation` of the job's store.
    static func connect(store: any Store, generation: Int, rank: Int, worldSize: Int, options: CommunicatorOptions,
                                operation: String) throws(CollectivesError) -> Bootstrapped {
        var configuration = LaunchConfiguration(rank: rank, worldSize: worldSize, timeoutSeconds: options.timeoutSeconds,
                                                socketInterface: ProcessEnvironment.current()["COLLECTIVES_SOCKET_IFNAME"].flatMap { $0.isEmpty ? nil : $0 })
        configuration.jobSecret = options.tcp.secret
        do {
            return try Bootstrap.connect(store: PrefixStore(prefix: "elastic/\(generation)/job", base: store), configuration: configuration,
                                         settings: options.bootstrapSettings)
        } catch {
            throw CollectivesError(error, operation: operation)
        }
    }
}

/// The store keys of joining, and rank 0's side of admission.
enum JoinKeys {
    /// Tickets taken (a counter).
    static let tickets = "elastic/join/tickets"
    /// Tickets examined so far, admitted or found given up (a counter).
    static let examined = "elastic/join/examined"
    /// Where ticket `ticket` learns its generation, rank and the grown world size.
    static func admission(ticket: Int64) -> String { "elastic/join/admission/\(ticket)" }
    /// Claimed once, by rank 0 admitting the ticket or by its joiner giving up: whoever adds 1
    /// first wins, so a joiner that gave up is never admitted and one admitted is never lost.
    static func claim(ticket: Int64) -> String { "elastic/join/claim/\(ticket)" }

    /// Claims the waiting tickets in order, at most `room` of them, after waiting up to
    /// `waitSeconds` for `awaiting` tickets beyond those examined; returns the tickets claimed.
    static func claimWaitingTickets(in store: any Store, room: Int, awaiting: Int, waitSeconds: Double, rank: Int,
                                    operation: String) throws(CollectivesError) -> [Int64] {
        do {
            var tickets = try store.add(tickets, 0)
            let first = try store.add(examined, 0) + 1
            let deadline = Deadline.after(seconds: waitSeconds)
            while tickets - first + 1 < Int64(awaiting) {
                guard !deadline.hasPassed else {
                    throw CollectivesError(.timedOut, rank: rank, operation: operation,
                                           reason: "\(tickets - first + 1) of the \(awaiting) processes awaited came to join within \(waitSeconds) s")
                }
                sleepSeconds(0.02)
                tickets = try store.add(Self.tickets, 0)
            }
            var claimed: [Int64] = []
            var next = first
            while next <= tickets && claimed.count < room {
                if try store.add(claim(ticket: next), 1) == 1 { claimed.append(next) }
                next += 1
            }
            if next > first { _ = try store.add(examined, next - first) }
            return claimed
        } catch let error as CollectivesError {
            throw error
        } catch let error as RendezvousError {
            throw CollectivesError(error, rank: rank, operation: operation)
        } catch {
            throw CollectivesError(.rendezvous, rank: rank, operation: operation, reason: "\(error)")
        }
    }
}
