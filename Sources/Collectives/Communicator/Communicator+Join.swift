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
    /// `maximumWorldSize` ranks. Returns the larger communicator (this one stays usable; close
    /// it once done with it), or `nil` on every rank when nobody was admitted. Needs the
    /// rendezvous store, as ``shrink(grace:)`` does. With `awaiting` > 0, rank 0 first waits,
    /// up to the communicator's timeout, until that many processes wait to join (a job that must
    /// grow before it goes on).
    public func admitJoining(maximumWorldSize: Int? = nil, awaiting: Int = 0) throws(CollectivesError) -> Communicator? {
        let operation = "admitting joining ranks (generation \(elasticGeneration + 1))"
        guard let bootstrapped, let store = elasticStore else {
            throw CollectivesError(.invalidArgument, rank: rank, operation: operation,
                                   reason: "admitting ranks needs the rendezvous store: make the communicator from the environment or from a store")
        }
        // Rank 0 decides: how many wait, from which ticket.
        var plan: [Int64] = [0, 0]
        if rank == 0 {
            do {
                var tickets = try store.add(JoinKeys.tickets, 0)
                let admitted = try store.add(JoinKeys.admitted, 0)
                let deadline = Deadline.after(seconds: options.timeoutSeconds)
                while tickets - admitted < Int64(awaiting) {
                    guard !deadline.hasPassed else {
                        throw CollectivesError(.timedOut, rank: rank, operation: operation,
                                               reason: "\(tickets - admitted) of the \(awaiting) processes awaited came to join within \(options.timeoutSeconds) s")
                    }
                    sleepSeconds(0.02)
                    tickets = try store.add(JoinKeys.tickets, 0)
                }
                let room = maximumWorldSize.map { Int64(Swift.max(0, $0 - worldSize)) } ?? .max
                plan = [Swift.min(tickets - admitted, room), admitted + 1]
            } catch let error as CollectivesError {
                throw error
            } catch let error as RendezvousError {
                throw CollectivesError(error, rank: rank, operation: operation)
            } catch {
                throw CollectivesError(.rendezvous, rank: rank, operation: operation, reason: "\(error)")
            }
        }
        try broadcast(&plan, root: 0)
        let count = Int(plan[0]), firstTicket = plan[1]
        guard count > 0 else { return nil }
        let generation = elasticGeneration + 1
        let grown = worldSize + count
        if rank == 0 {
            do {
                for i in 0..<count {
                    try store.set(JoinKeys.admission(ticket: firstTicket + Int64(i)), string: "\(generation),\(worldSize + i),\(grown)")
                }
                _ = try store.add(JoinKeys.admitted, Int64(count))
            } catch {
                throw CollectivesError(error, rank: rank, operation: operation)
            }
        }
        logger.info("rank \(rank): admitting \(count) joining rank\(count == 1 ? "" : "s"); going on as rank \(rank) of \(grown)")
        let next = try Self.connect(store: store, generation: generation, rank: rank, worldSize: grown, options: options, operation: operation)
        bootstrapped.handOverStore(to: next)
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
        let seconds = Double(timeout.components.seconds) + Double(timeout.components.attoseconds) / 1e18
        let admission: [Int]
        let ticket: Int64
        do {
            ticket = try store.add(JoinKeys.tickets, 1)
        } catch {
            throw CollectivesError(error, rank: nil, operation: operation)
        }
        do {
            let text = try store.getString(JoinKeys.admission(ticket: ticket), deadline: Deadline.after(seconds: seconds))
            admission = text.split(separator: ",").compactMap { Int($0) }
        } catch .timedOut {
            throw CollectivesError(.timedOut, rank: nil, operation: operation,
                                   reason: "ticket \(ticket) was not admitted within \(seconds) s: the job may have ended, or be at its maximum size")
        } catch {
            throw CollectivesError(error, rank: nil, operation: operation)
        }
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

/// The store keys of joining.
enum JoinKeys {
    /// Tickets taken (a counter).
    static let tickets = "elastic/join/tickets"
    /// Tickets admitted so far (a counter).
    static let admitted = "elastic/join/admitted"
    /// Where ticket `ticket` learns its generation, rank and the grown world size.
    static func admission(ticket: Int64) -> String { "elastic/join/admission/\(ticket)" }
}
