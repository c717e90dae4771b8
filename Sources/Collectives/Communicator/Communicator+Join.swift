import CollectivesBootstrap
import CollectivesRendezvous
import CollectivesSystem

/// Growing a job: processes started after it began join at a point the job chooses (an epoch
/// boundary), as torchrun's elastic agent and Horovod elastic allow.
///
/// A joining process takes a ticket in the job's store (``join(store:options:timeout:settings:)``) and
/// waits. At its next boundary the job's ranks call ``admitJoining(maximumWorldSize:awaiting:settings:)``
/// together: rank 0 admits the waiting tickets (up to `maximumWorldSize`), tells each its rank
/// (after the job's ranks, in ticket order), and everyone, old and new, connects afresh as one
/// communicator under a new generation of the store. The job's ranks keep their numbers. The
/// membership layer (`CollectivesBootstrap/Membership`) does the work; these calls wrap it.
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
        let place = elasticPlace
        let operation = "admitting joining ranks (generation \(place.generation))"
        let membership = try membership(for: operation)
        // Rank 0 decides and writes the successor; the plan says how many it admitted, or -1 when
        // it failed.
        var plan: [Int64] = [0]
        var decisionError: CollectivesError?
        if rank == 0 {
            do {
                let room = maximumWorldSize.map { Swift.max(0, $0 - worldSize) } ?? .max
                plan = [Int64(try membership.admitWaiting(at: place, room: room, awaiting: awaiting, jobSettings: settings))]
            } catch {
                decisionError = CollectivesError(error, rank: rank, operation: operation)
                plan = [-1]
            }
        }
        try broadcast(&plan, root: 0)
        if plan[0] < 0 {
            throw decisionError ?? CollectivesError(.rendezvous, rank: rank, operation: operation, peer: 0,
                                                    reason: "rank 0 could not admit the waiting processes (its error says why)")
        }
        guard plan[0] > 0 else { return nil }
        let grown: (place: ElasticPlace, group: Bootstrapped)
        do {
            grown = try membership.grow(place)
        } catch {
            throw CollectivesError(error, rank: rank, operation: operation)
        }
        let added = grown.place.worldSize - worldSize
        logger.info("rank \(rank): admitting \(added) joining rank\(added == 1 ? "" : "s"); going on as rank \(grown.place.rank) of \(grown.place.worldSize)")
        return successor(at: grown.place, group: grown.group, store: membership.store)
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
        let joined: (ticket: Int64, place: ElasticPlace, group: Bootstrapped)
        do {
            joined = try membership(store: store, options: options).join(settings: settings, timeout: timeout)
        } catch {
            throw CollectivesError(error, rank: nil, operation: "joining a running job")
        }
        let communicator = member(at: joined.place, group: joined.group, store: store, options: options)
        communicator.logger.info("rank \(joined.place.rank): joined a job of \(joined.place.worldSize) ranks (ticket \(joined.ticket))")
        return communicator
    }

    /// ``join(store:options:timeout:settings:)`` through the store a launcher serves: `MASTER_ADDR`,
    /// `MASTER_PORT` and `COLLECTIVES_JOB_SECRET` as the job's ranks have them (no `RANK` or
    /// `WORLD_SIZE`: the job assigns them), `COLLECTIVES_TIMEOUT` for the connections. The
    /// store connection closes with the communicator.
    public static func joinFromEnvironment(options: CommunicatorOptions = CommunicatorOptions(), timeout: Duration = .seconds(600),
                                           settings: [String: String] = [:]) throws(CollectivesError) -> Communicator {
        let environment = ProcessEnvironment.current()
        let operation = "joining a running job"
        var options = options
        try options.applyTuning(from: environment)
        do {
            if let value = try LaunchConfiguration.timeoutSeconds(setIn: environment) { options.timeoutSeconds = value }
        } catch {
            throw CollectivesError(.configuration, rank: nil, operation: operation,
                                   reason: "COLLECTIVES_TIMEOUT=\(environment[EnvironmentVariable.timeout.name] ?? "") is not a positive number of seconds")
        }
        if let secret = environment[EnvironmentVariable.jobSecret.name], !secret.isEmpty { options.tcp.secret = JobSecret(secret) }
        let store: TCPStore
        do {
            store = try Membership.jobStore(in: environment, timeoutSeconds: options.timeoutSeconds, settings: options.bootstrapSettings)
        } catch {
            throw CollectivesError(error, rank: nil, operation: operation)
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
}
