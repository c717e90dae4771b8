import CollectivesBootstrap
import CollectivesRendezvous
import CollectivesSystem
import FoundationEssentials
import Logging

/// Growing a job: processes started after it began join at a point the job chooses (an epoch
/// boundary), as torchrun's elastic agent and Horovod elastic allow.
///
/// A joining process takes a ticket in the job's store (``join(store:options:timeout:settings:)``) and
/// waits. At its next boundary the job's ranks call ``admitJoining(maximumWorldSize:awaiting:settings:)``
/// together: rank 0 admits the waiting tickets (up to `maximumWorldSize`), tells each its rank
/// (after the job's ranks, in ticket order), and everyone, old and new, connects afresh as one
/// communicator under a new generation of the store. The job's ranks keep their numbers.
extension Communicator {
    /// Collective over this communicator: admits the processes waiting to join (see
    /// ``join(store:options:timeout:settings:)``), at most as many as keep the job at
    /// `maximumWorldSize` ranks. Returns the larger communicator, or `nil` on every rank when
    /// nobody was admitted (nobody waits, or there is no room). Needs the rendezvous store, as
    /// ``shrink(grace:)`` does. With `awaiting` > 0, rank 0 first waits, up to half the
    /// communicator's timeout, until that many processes wait to join (a job that must grow
    /// before it goes on); processes that gave up waiting do not count.
    ///
    /// Rank 0 claims the tickets it admits and decides the next generation in the store before
    /// it tells the others, so if a rank is lost during the admission, ``shrink(grace:)`` on this
    /// communicator (on every survivor, whether its part of the admission finished or not)
    /// shrinks the grown generation, and the joiners that never came count as lost. A joiner
    /// whose admission fails takes a new ticket and waits for the next one.
    ///
    /// `settings` are the job's (what every rank of it must have alike: a seed, a batch size…):
    /// a process that joins with other ``join(store:options:timeout:settings:)`` settings is
    /// refused, its error naming the first setting that differs, and not admitted.
    ///
    /// The new communicator shares the store's connection (and server) with this one: close or
    /// drop either in any order.
    public func admitJoining(maximumWorldSize: Int? = nil, awaiting: Int = 0,
                             settings: [String: String] = [:]) throws(CollectivesError) -> Communicator? {
        let generation = elasticGeneration
        let operation = "admitting joining ranks (generation \(generation))"
        guard let bootstrapped, let store = elasticStore else {
            throw CollectivesError(.invalidArgument, rank: rank, operation: operation,
                                   reason: "admitting ranks needs the rendezvous store: make the communicator from the environment or from a store")
        }
        // Rank 0 decides and writes the successor; the plan says how many it admitted, or -1 when
        // it failed.
        var plan: [Int64] = [0]
        var decisionError: CollectivesError?
        if rank == 0 {
            do {
                let room = maximumWorldSize.map { Swift.max(0, $0 - worldSize) } ?? .max
                plan = [Int64(try JoinTickets.admit(generation: generation, worldSize: worldSize, room: room, awaiting: awaiting,
                                                    waitSeconds: options.timeoutSeconds / 2, settings: settings, store: store,
                                                    operation: operation))]
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
        guard plan[0] > 0 else { return nil }
        // The successor comes from the store, where rank 0 wrote it before the broadcast.
        let successor: ElasticSuccessor
        do {
            successor = try ElasticSuccessor.wait(generation, in: store, deadline: Deadline.after(seconds: options.timeoutSeconds))
        } catch {
            throw CollectivesError.elastic(error, rank: rank, operation: operation)
        }
        guard successor.kind == .admitted, let newRank = successor.newRank(of: rank) else {
            throw CollectivesError(.rendezvous, rank: rank, operation: operation,
                                   reason: "generation \(generation) was shrunk while joining ranks were admitted")
        }
        let grown = successor.worldSize
        logger.info("rank \(rank): admitting \(grown - worldSize) joining rank\(grown - worldSize == 1 ? "" : "s"); going on as rank \(newRank) of \(grown)")
        let next = try Self.connect(store: store, generation: generation + 1, rank: newRank, worldSize: grown, options: options,
                                    operation: operation)
        bootstrapped.shareStore(with: next)
        let communicator = Communicator(transport: next.transport, options: options, bootstrapped: next)
        communicator.elasticGeneration = generation + 1
        communicator.elasticStoreOverride = store
        return communicator
    }

    /// Joins a running job through its store (the one its launcher serves): takes a ticket,
    /// waits until the job's ranks admit it (``admitJoining(maximumWorldSize:awaiting:settings:)``) or `timeout`
    /// passes, then connects to them. The new rank comes after the job's ranks. If an admission
    /// fails (a rank of the job was lost meanwhile), takes a new ticket and waits for the next,
    /// within the same `timeout`. `store` stays the caller's (it is not closed with the
    /// communicator). `settings` must be the job's (``admitJoining(maximumWorldSize:awaiting:settings:)``):
    /// a joiner whose settings differ is refused with a ``CollectivesError/Kind/configuration``
    /// error whose ``CollectivesError/differingSetting`` names the setting.
    public static func join(store: any Store, options: CommunicatorOptions = CommunicatorOptions(),
                            timeout: Duration = .seconds(600), settings: [String: String] = [:]) throws(CollectivesError) -> Communicator {
        let operation = "joining a running job"
        let seconds = timeout.inSeconds
        let deadline = Deadline.after(seconds: seconds)
        while true {
            let (ticket, admission) = try JoinTickets.awaitAdmission(store: store, settings: settings, deadline: deadline, seconds: seconds,
                                                                      connectSeconds: options.timeoutSeconds, operation: operation)
            guard let admission else { continue }
            do {
                let next = try connect(store: store, generation: admission.generation, rank: admission.rank, worldSize: admission.worldSize,
                                       options: options, operation: operation)
                let communicator = Communicator(transport: next.transport, options: options, bootstrapped: next)
                communicator.elasticGeneration = admission.generation
                communicator.elasticStoreOverride = store
                communicator.logger.info("rank \(admission.rank): joined a job of \(admission.worldSize) ranks (ticket \(ticket))")
                return communicator
            } catch where !deadline.hasPassed && [.rendezvous, .timedOut, .peerGone, .transport].contains(error.kind) {
                // The admission failed (a rank of the job was lost while it formed): wait for the next.
                Logger(label: "collectives").notice("ticket \(ticket): the admission to generation \(admission.generation) failed (\(error)); waiting for the next")
            }
        }
    }

    /// ``join(store:options:timeout:settings:)`` through the store a launcher serves: `MASTER_ADDR`,
    /// `MASTER_PORT` and `COLLECTIVES_JOB_SECRET` as the job's ranks have them (no `RANK` or
    /// `WORLD_SIZE`: the job assigns them), `COLLECTIVES_TIMEOUT` for the connections. The
    /// store connection closes with the communicator.
    public static func joinFromEnvironment(options: CommunicatorOptions = CommunicatorOptions(), timeout: Duration = .seconds(600),
                                           settings: [String: String] = [:]) throws(CollectivesError) -> Communicator {
        let environment = ProcessEnvironment.current()
        let operation = "joining a running job"
        func invalid(_ reason: String) -> CollectivesError { CollectivesError(.configuration, rank: nil, operation: operation, reason: reason) }
        guard let host = environment["MASTER_ADDR"], !host.isEmpty else { throw invalid("MASTER_ADDR (the job's store) is not set") }
        guard let portText = environment["MASTER_PORT"], let port = UInt16(portText), port > 0 else {
            throw invalid("MASTER_PORT \(environment["MASTER_PORT"] ?? "(not set)") is not a port")
        }
        var options = options
        try options.applyTuning(from: environment)
        do {
            if let value = try LaunchConfiguration.timeoutSeconds(setIn: environment) { options.timeoutSeconds = value }
        } catch {
            throw invalid("COLLECTIVES_TIMEOUT=\(environment[EnvironmentVariable.timeout.name] ?? "") is not a positive number of seconds")
        }
        if let secret = environment[EnvironmentVariable.jobSecret.name], !secret.isEmpty { options.tcp.secret = JobSecret(secret) }
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
            let communicator = try join(store: store, options: options, timeout: timeout, settings: settings)
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
                                                socketInterface: ProcessEnvironment.current()[EnvironmentVariable.socketInterface.name].flatMap { $0.isEmpty ? nil : $0 })
        configuration.jobSecret = options.tcp.secret
        do {
            return try Bootstrap.connect(store: PrefixStore(prefix: ElasticKeys.job(generation), base: store), configuration: configuration,
                                         settings: options.bootstrapSettings)
        } catch {
            throw CollectivesError(error, operation: operation)
        }
    }
}

/// Tickets of joining processes: rank 0's side of an admission, a joiner's wait, and handing
/// back the tickets of admissions that failed.
package enum JoinTickets {
    /// Where an admitted ticket goes: generation, rank, world size.
    struct Admission {
        var generation: Int
        var rank: Int
        var worldSize: Int
    }

    /// Rank 0's admission at generation `generation` of `worldSize` ranks: claims the waiting
    /// tickets (at most `room`; first waiting up to `waitSeconds` until `awaiting` processes
    /// wait), decides the successor (unless a shrink of the generation decided first: then the
    /// tickets are handed back and the admission fails), writes each ticket's admission, and
    /// returns how many were admitted.
    package static func admit(generation: Int, worldSize: Int, room: Int, awaiting: Int, waitSeconds: Double,
                              settings: [String: String] = [:], store: any Store, operation: String) throws(CollectivesError) -> Int {
        do {
            let (claimed, examined) = try claimWaitingTickets(in: store, room: room, awaiting: awaiting, waitSeconds: waitSeconds,
                                                              settings: settings, operation: operation)
            guard !claimed.isEmpty else {
                if examined > 0 { _ = try store.add(ElasticKeys.examined, Int64(examined)) }
                return 0
            }
            guard try store.add(ElasticKeys.next(generation), 1) == 1 else {
                try handBack(claimed, examined: examined, in: store)
                throw CollectivesError(.rendezvous, rank: 0, operation: operation,
                                       reason: "ranks of generation \(generation) are shrinking it: a rank was lost")
            }
            let grown = worldSize + claimed.count
            let successor = ElasticSuccessor(kind: .admitted, members: Array(0..<worldSize), worldSize: grown, tickets: claimed)
            try store.set(ElasticKeys.successor(generation), string: successor.encoded)
            for (i, ticket) in claimed.enumerated() {
                try store.set(ElasticKeys.admission(ticket: ticket), string: "\(generation + 1),\(worldSize + i),\(grown)")
            }
            _ = try store.add(ElasticKeys.examined, Int64(examined))
            return claimed.count
        } catch {
            throw CollectivesError.elastic(error, rank: 0, operation: operation)
        }
    }

    /// Claims the waiting tickets in order, at most `room` of them, waiting up to `waitSeconds`
    /// until `awaiting` are claimed (tickets whose joiner gave up cannot be claimed, so they do
    /// not count); returns the tickets claimed and how many tickets were looked at. On a
    /// timeout the claimed tickets are handed back.
    static func claimWaitingTickets(in store: any Store, room: Int, awaiting: Int, waitSeconds: Double,
                                    settings: [String: String], operation: String) throws -> (claimed: [Int64], examined: Int) {
        let first = try store.add(ElasticKeys.examined, 0) + 1
        let wanted = Swift.min(awaiting, room)
        let deadline = Deadline.after(seconds: waitSeconds)
        var claimed: [Int64] = []
        var next = first
        while true {
            let tickets = try store.add(ElasticKeys.tickets, 0)
            while next <= tickets && claimed.count < room {
                if try store.add(ElasticKeys.claim(ticket: next), 1) == 1,
                   try acceptsSettings(of: next, jobSettings: settings, store: store, waitSeconds: waitSeconds) {
                    claimed.append(next)
                }
                next += 1
            }
            if claimed.count >= wanted { return (claimed, Int(next - first)) }
            guard !deadline.hasPassed else {
                try handBack(claimed, examined: Int(next - first), in: store)
                throw CollectivesError(.timedOut, rank: 0, operation: operation,
                                       reason: "\(claimed.count) of the \(awaiting) processes awaited came to join within \(waitSeconds) s")
            }
            sleepSeconds(0.02)
        }
    }

    /// Whether claimed ticket `ticket`'s settings are the job's; if not, tells its joiner so (it
    /// stops, naming the setting). A joiner writes its settings right after taking its ticket.
    static func acceptsSettings(of ticket: Int64, jobSettings: [String: String], store: any Store, waitSeconds: Double) throws -> Bool {
        let joiner = try settingsWritten(for: ticket, store: store, waitSeconds: Swift.min(waitSeconds, 2))
        guard let difference = firstDifference(job: jobSettings, joiner: joiner) else { return true }
        let encoded = String(decoding: try JSONEncoder().encode([difference.name, difference.job ?? "", difference.joiner ?? "",
                                                                  difference.job == nil ? "-" : "+", difference.joiner == nil ? "-" : "+"]),
                             as: UTF8.self)
        try store.set(ElasticKeys.admission(ticket: ticket), string: ElasticKeys.refusedPrefix + encoded)
        return false
    }

    /// The settings ticket `ticket`'s process wrote; one that wrote none within `waitSeconds` of
    /// taking it (gone, or not a joiner) or wrote something else has a setting saying so.
    static func settingsWritten(for ticket: Int64, store: any Store, waitSeconds: Double) throws(RendezvousError) -> [String: String] {
        var text: String?
        do {
            text = try store.getString(ElasticKeys.settings(ticket: ticket), deadline: Deadline.after(seconds: waitSeconds))
        } catch .timedOut {
            text = nil
        }
        guard let text else { return ["(settings)": "none written"] }
        return (try? JSONDecoder().decode([String: String].self, from: Data(text.utf8))) ?? ["(settings)": "unreadable: \(text)"]
    }

    /// The first setting, by name, that the two sides do not have alike.
    static func firstDifference(job: [String: String], joiner: [String: String]) -> CollectivesError.SettingDifference? {
        for name in Set(job.keys).union(joiner.keys).sorted() where job[name] != joiner[name] {
            return CollectivesError.SettingDifference(name: name, job: job[name], joiner: joiner[name])
        }
        return nil
    }

    /// The difference a refused admission carries.
    static func refusal(_ text: String) -> CollectivesError.SettingDifference? {
        guard text.hasPrefix(ElasticKeys.refusedPrefix),
              let fields = try? JSONDecoder().decode([String].self, from: Data(text.dropFirst(ElasticKeys.refusedPrefix.count).utf8)),
              fields.count == 5 else { return nil }
        return CollectivesError.SettingDifference(name: fields[0], job: fields[3] == "+" ? fields[1] : nil, joiner: fields[4] == "+" ? fields[2] : nil)
    }

    /// Tells the joiners of `tickets` to take new ones, and counts `examined` tickets as dealt with.
    static func handBack(_ tickets: [Int64], examined: Int, in store: any Store) throws {
        for ticket in tickets { try store.set(ElasticKeys.admission(ticket: ticket), string: ElasticKeys.requeue) }
        if examined > 0 { _ = try store.add(ElasticKeys.examined, Int64(examined)) }
    }

    /// Hands back the tickets claimed by an admission that never wrote their admissions (its
    /// rank 0 was lost on the way), so their joiners do not wait out their timeouts. Called by
    /// the rank that decides a shrink: no admission of that generation can then be decided.
    static func requeueStranded(in store: any Store) throws {
        let first = try store.add(ElasticKeys.examined, 0) + 1
        let last = try store.add(ElasticKeys.tickets, 0)
        guard first <= last else { return }
        for ticket in first...last where try store.check([ElasticKeys.claim(ticket: ticket)])
            && !(try store.check([ElasticKeys.admission(ticket: ticket)])) {
            try store.set(ElasticKeys.admission(ticket: ticket), string: ElasticKeys.requeue)
        }
    }

    /// A joiner's wait: takes a ticket and waits for its admission until `deadline` (then gives
    /// the ticket up, unless rank 0 claimed it first: its admission is then on the way and is
    /// waited for `connectSeconds` more). Returns the ticket and its admission, or nil when it
    /// was handed back (take a new one).
    static func awaitAdmission(store: any Store, settings: [String: String], deadline: Deadline, seconds: Double, connectSeconds: Double,
                               operation: String) throws(CollectivesError) -> (Int64, Admission?) {
        let ticket: Int64
        var text: String?
        var gaveUp = false
        do {
            ticket = try store.add(ElasticKeys.tickets, 1)
            let encoded = (try? JSONEncoder().encode(settings)).map { String(decoding: $0, as: UTF8.self) } ?? "{}"
            try store.set(ElasticKeys.settings(ticket: ticket), string: encoded)
            do {
                text = try store.getString(ElasticKeys.admission(ticket: ticket), deadline: deadline)
            } catch .timedOut {
                // Give the ticket up, unless rank 0 claimed it first: then its admission is on the way.
                gaveUp = try store.add(ElasticKeys.claim(ticket: ticket), 1) == 1
                if !gaveUp {
                    text = try store.getString(ElasticKeys.admission(ticket: ticket), deadline: Deadline.after(seconds: connectSeconds))
                }
            }
        } catch {
            throw CollectivesError(error, rank: nil, operation: operation)
        }
        guard let text, !gaveUp else {
            throw CollectivesError(.timedOut, rank: nil, operation: operation,
                                   reason: "ticket \(ticket) was not admitted within \(seconds) s: the job may have ended, or be at its maximum size")
        }
        if text == ElasticKeys.requeue { return (ticket, nil) }
        if let difference = refusal(text) {
            var error = CollectivesError(.configuration, rank: nil, operation: operation,
                                         reason: "the job refused ticket \(ticket): its setting \(difference.name) is \(difference.job ?? "(not set)"), this process has \(difference.joiner ?? "(not set)")")
            error.differingSetting = difference
            throw error
        }
        let fields = text.split(separator: ",").compactMap { Int($0) }
        guard fields.count == 3 else {
            throw CollectivesError(.rendezvous, rank: nil, operation: operation, reason: "the job's store holds a malformed admission for ticket \(ticket)")
        }
        return (ticket, Admission(generation: fields[0], rank: fields[1], worldSize: fields[2]))
    }
}
