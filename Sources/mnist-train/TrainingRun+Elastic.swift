import ArgumentParser
import Collectives
import CommandLineSupport
import DataParallel

/// An elastic job: what the demo remakes when ranks are lost or admitted. `ElasticTraining`
/// (DataParallel) decides when; this says what: new shards, the trainer moved (a pipeline put
/// back together), the names of the ranks, the log lines.
extension TrainingRun {
    /// After `change`, on `next`: this rank's shard and trainer, and the epoch to go on with.
    func regroup(on next: Communicator, from trainer: any DistributedTrainer, after change: ElasticChange) throws -> Regrouped {
        switch change {
        case let .shrunk(lost, cause, elapsed, repeating):
            return try goOnWithout(lost, on: next, from: trainer, cause: cause, elapsed: elapsed, repeating: repeating)
        case let .grown(joined, finished):
            return try welcome(joined, on: next, from: trainer, after: finished)
        }
    }

    /// Goes on without the ranks lost: new shards, the trainer moved (a pipeline put back
    /// together); says so.
    func goOnWithout(_ lost: [Int], on next: Communicator, from trainer: any DistributedTrainer, cause: CollectivesError.Kind,
                     elapsed: Duration, repeating: Bool) throws -> Regrouped {
        // Ranks past the names are processes whose admission was decided but never finished.
        let lostNames = lost.map { $0 < rankNames.count ? rankNames[$0] : "joining rank \($0)" }
        rankNames = rankNames.enumerated().filter { !lost.contains($0.offset) }.map(\.element)
        var regrouped: Regrouped, how = ""
        if let pipeline = trainer as? PipelineTrainer {
            (regrouped, how) = try reassemble(pipeline, on: next)
        } else {
            (train, test) = try loadData(next, stages: 1)
            regrouped = Regrouped(trainer: try (trainer as! DataParallelTrainer).moved(to: next))
        }
        if next.rank == 0 {
            let ranks = "\(next.worldSize) rank\(next.worldSize == 1 ? "" : "s")"
            let at = regrouped.nextEpoch ?? epoch
            Console.say("epoch \(at)/\(command.epochs): lost \(lostNames.joined(separator: ", ")) after \(fixed(elapsed.inSeconds, 1)) s"
                        + " (\(cause)\(repeating ? "" : " while admitting joining ranks")); continuing on \(ranks)\(how)"
                        + (repeating ? ", epoch \(at) again" : " from epoch \(epoch + 1)"))
        }
        return regrouped
    }

    /// Puts the whole model together from the stages the survivors hold, as of the end of the
    /// last epoch; if a stage was lost with all its replicas, from the last checkpoint (going
    /// back to the epoch after it). As many stages as before if the survivors still form whole
    /// replicas, else fewer (down to data parallelism). Returns the trainer and how, for the log.
    func reassemble(_ pipeline: PipelineTrainer, on next: Communicator) throws -> (Regrouped, String) {
        var whole = try pipeline.recoverWholeModel(on: next, epochsCompleted: epoch - 1)
        var source = "the surviving stages", resumed: Int?
        if whole == nil {
            guard let checkpoint = command.checkpoint,
                  let saved = try Checkpoint.load(from: checkpoint, parameterCount: parameterCount, on: next) else {
                if next.rank == 0 {
                    Console.error("mnist-train: every replica of a pipeline stage was lost, and there is no --checkpoint to go on from")
                }
                throw ExitCode(1)
            }
            whole = saved
            source = "the checkpoint of epoch \(saved.epochsCompleted)"
            resumed = saved.epochsCompleted + 1
            accuracies = zip(rows, accuracies).filter { $0.0.epoch <= saved.epochsCompleted }.map(\.1)
            rows = rows.filter { $0.epoch <= saved.epochsCompleted }
        }
        stages = (1...stages).last { next.worldSize % $0 == 0 }!
        (train, test) = try loadData(next, stages: stages)
        let trainer = try makeTrainer(next, stages: stages)
        trainer.load(whole!)
        (trainer as? PipelineTrainer)?.markEpochBoundary()
        return (Regrouped(trainer: trainer, nextEpoch: resumed), " as \(describe(trainer)) from \(source)")
    }

    /// After `finished`, `joined` processes were admitted (collectives-run --join --max): they
    /// learn the epoch to go on with, the classes and the maximum, and get their shards.
    func welcome(_ joined: Int, on grown: Communicator, from trainer: any DistributedTrainer, after finished: Int) throws -> Regrouped {
        let data = try loadData(grown, stages: 1)
        var header: [Int64] = [Int64(finished + 1), Int64(sizes.last!), Int64(maximumRanks ?? 0)]
        try grown.broadcast(&header, root: 0)
        let moved = try (trainer as! DataParallelTrainer).moved(to: grown)
        (train, test) = data
        let newRanks = ((grown.worldSize - joined)..<grown.worldSize).map { "rank \($0)" }
        rankNames += newRanks.map { "\($0) (joined after epoch \(finished))" }
        if grown.rank == 0 {
            Console.say("epoch \(finished)/\(command.epochs): \(newRanks.joined(separator: ", ")) joined; continuing on \(grown.worldSize) ranks from epoch \(finished + 1)")
        }
        return Regrouped(trainer: moved)
    }

    /// How many joiners to wait for after `finished` (nil: admit none): one, after the epoch
    /// `--await-join-after-epoch` names, while nobody has joined yet.
    func joinersAwaited(after finished: Int) -> Int? {
        guard elastic && stages == 1 else { return nil }
        return command.awaitJoinAfterEpoch == finished && rankNames.count == originalWorldSize ? 1 : 0
    }
}
