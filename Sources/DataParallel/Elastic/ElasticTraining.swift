import Collectives
import CollectivesSystem

/// What changed in an elastic job's ranks.
public enum ElasticChange: Sendable {
    /// Ranks were lost and the survivors go on: `lost` are numbered in the generation shrunk
    /// (joiners whose admission never finished come after its old ranks), `cause` is the kind of
    /// error that showed it, `elapsed` the time from the start of the epoch (or of the
    /// admission) to the shrink, and `repeatingEpoch` says whether the epoch runs again (a loss
    /// during training) or the next one follows (a loss while admitting joiners).
    case shrunk(lost: [Int], cause: CollectivesError.Kind, elapsed: Duration, repeatingEpoch: Bool)
    /// Processes waiting to join were admitted after `epoch`: `joined` new ranks, numbered after
    /// the job's.
    case grown(joined: Int, afterEpoch: Int)
}

/// How an elastic job goes on.
public struct ElasticPolicy: Sendable {
    /// Whether the job goes on without ranks it loses (else a loss ends it, as without
    /// elasticity).
    public var goesOnWithoutLostRanks: Bool
    /// How many ranks the job may grow to; `nil` admits nobody.
    public var maximumWorldSize: Int?
    /// What every rank must have alike; a joiner with other settings is refused
    /// (``Communicator/admitJoining(maximumWorldSize:awaiting:settings:)``).
    public var joinSettings: [String: String]
    /// How long survivors wait for each other before the shrink is decided.
    public var shrinkGrace: Duration
    /// The errors that mean a rank was lost (it died, hung or closed).
    public static let lossKinds: Set<CollectivesError.Kind> = [.peerGone, .timedOut, .closed, .transport]

    public init(goesOnWithoutLostRanks: Bool = true, maximumWorldSize: Int? = nil, joinSettings: [String: String] = [:],
                shrinkGrace: Duration = .seconds(3)) {
        self.goesOnWithoutLostRanks = goesOnWithoutLostRanks
        self.maximumWorldSize = maximumWorldSize
        self.joinSettings = joinSettings
        self.shrinkGrace = shrinkGrace
    }
}

/// What the program remade after its ranks changed: the trainer to go on with and, where it
/// went back (to a checkpoint), the epoch to run next.
public struct Regrouped {
    public var trainer: any DistributedTrainer
    public var nextEpoch: Int?

    public init(trainer: any DistributedTrainer, nextEpoch: Int? = nil) {
        self.trainer = trainer
        self.nextEpoch = nextEpoch
    }
}

/// Runs the epochs of any ``DistributedTrainer`` through lost and joining ranks, as torchrun's
/// elastic agent and Horovod elastic do: an epoch that loses ranks is run again on the
/// survivors (``Communicator/shrink(grace:)``), and between epochs the processes waiting to join
/// are admitted (``Communicator/admitJoining(maximumWorldSize:awaiting:settings:)``). After each
/// change the program's `regroup` remakes what depends on the ranks (this rank's data shard,
/// the trainer on the new communicator: ``DataParallelTrainer/moved(to:)``) and says anything
/// it must (a joiner learns the epoch from the job).
///
/// The job's store must outlive lost ranks: run under `collectives-run --elastic`, whose
/// launcher serves it.
public final class ElasticTraining {
    /// The communicator of the job's current ranks.
    public private(set) var communicator: Communicator
    /// The trainer on ``communicator``.
    public private(set) var trainer: any DistributedTrainer
    public var policy: ElasticPolicy
    /// Remakes the program's state on a new communicator after `change`; called on every rank.
    public typealias Regroup = (_ communicator: Communicator, _ trainer: any DistributedTrainer, _ change: ElasticChange) throws -> Regrouped
    private let regroup: Regroup
    /// Communicators of failed admissions: aborted, kept to the end (they share the store's connection).
    private var abandoned: [Communicator] = []

    public init(communicator: Communicator, trainer: any DistributedTrainer, policy: ElasticPolicy, regroup: @escaping Regroup) {
        self.communicator = communicator
        self.trainer = trainer
        self.policy = policy
        self.regroup = regroup
    }

    /// Runs epochs `first` through `last`. `attempt(epoch)` trains and evaluates one epoch on
    /// ``trainer``; if it fails because ranks were lost, the survivors shrink, regroup and run
    /// it again. `finish(epoch, result)` keeps what the epoch gave (reports, checkpoints). After
    /// every epoch but the last, `awaiting(epoch)` says whether to admit joiners: `nil` for no,
    /// else how many to wait for (0: only those already waiting). Admitting is a collective:
    /// `awaiting` must say the same on every rank, a joined one too.
    public func run<Result>(from first: Int, through last: Int,
                            attempt: (Int) throws -> Result, finish: (Int, Result) throws -> Void,
                            awaiting: (Int) -> Int? = { _ in 0 }) throws {
        var epoch = first
        while epoch <= last {
            let started = MonotonicClock.nanoseconds
            let result: Result
            do {
                result = try attempt(epoch)
            } catch let error as CollectivesError where canGoOn(after: error) {
                trainer.abort()
                epoch = try shrink(error.kind, since: started, repeating: true) ?? epoch
                continue
            }
            try finish(epoch, result)
            if epoch < last, policy.maximumWorldSize != nil, let count = awaiting(epoch) {
                epoch = try admitJoining(after: epoch, awaiting: count) ?? epoch + 1
            } else {
                epoch += 1
            }
        }
    }

    /// Whether `error` is a loss this job goes on after. While admitting, a rendezvous error
    /// counts too: rank 0 could not make the admission, and every rank saw it fail, so the ranks
    /// agree on a new generation of those still alive.
    func canGoOn(after error: CollectivesError, admitting: Bool = false) -> Bool {
        policy.goesOnWithoutLostRanks && (ElasticPolicy.lossKinds.contains(error.kind) || admitting && error.kind == .rendezvous)
    }

    /// Goes on without the ranks lost; the epoch to run next if regrouping chose one.
    func shrink(_ cause: CollectivesError.Kind, since started: UInt64, repeating: Bool) throws -> Int? {
        let (next, lost) = try communicator.shrink(grace: policy.shrinkGrace)
        communicator.close()
        communicator = next
        let change = ElasticChange.shrunk(lost: lost, cause: cause, elapsed: .nanoseconds(Int64(clamping: MonotonicClock.nanoseconds(since: started))),
                                          repeatingEpoch: repeating)
        let regrouped = try regroup(next, trainer, change)
        trainer = regrouped.trainer
        return regrouped.nextEpoch
    }

    /// Admits the processes waiting to join after `epoch` and regroups on the grown
    /// communicator; if a rank (old or joining) is lost on the way, or the admission fails,
    /// goes on without the ranks lost (if any) from the communicator before. The epoch to run
    /// next if regrouping chose one.
    func admitJoining(after epoch: Int, awaiting: Int) throws -> Int? {
        let started = MonotonicClock.nanoseconds
        var grown: Communicator?
        do {
            grown = try communicator.admitJoining(maximumWorldSize: policy.maximumWorldSize, awaiting: awaiting,
                                                  settings: policy.joinSettings)
            guard let grown else { return nil }
            let regrouped = try regroup(grown, trainer, .grown(joined: grown.worldSize - communicator.worldSize, afterEpoch: epoch))
            communicator.close()
            communicator = grown
            trainer = regrouped.trainer
            return regrouped.nextEpoch
        } catch let error as CollectivesError where canGoOn(after: error, admitting: true) {
            if let grown {
                grown.abort()
                abandoned.append(grown)
            }
            return try shrink(error.kind, since: started, repeating: false)
        }
    }

    /// Closes the communicator (and the aborted ones of failed admissions).
    public func close() {
        communicator.close()
        abandoned.forEach { $0.close() }
        abandoned = []
    }
}
