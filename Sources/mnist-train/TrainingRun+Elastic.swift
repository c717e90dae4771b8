import ArgumentParser
import Collectives
import CollectivesSystem
import CommandLineSupport
import DataParallel

/// An elastic job: going on without ranks that were lost, and admitting ranks that wait to join.
extension TrainingRun {
    /// Goes on without the ranks lost: a smaller communicator, new shards, the trainer moved
    /// (a pipeline put back together); `repeating` says the current epoch runs again.
    func goOnWithout(_ kind: CollectivesError.Kind?, since: Deadline, repeating: Bool) throws {
        let (next, lost) = try communicator.shrink()
        // Ranks past the names are processes whose admission was decided but never finished.
        let lostNames = lost.map { $0 < rankNames.count ? rankNames[$0] : "joining rank \($0)" }
        rankNames = rankNames.enumerated().filter { !lost.contains($0.offset) }.map(\.element)
        communicator.close()
        communicator = next
        var how = ""
        if trainer is PipelineTrainer {
            how = try reassemblePipeline()
        } else {
            (train, test) = try loadData(communicator, stages: 1)
            trainer = try (trainer as! DataParallelTrainer).moved(to: communicator)
        }
        if leader {
            let seconds = MonotonicClock.seconds(since: since.uptimeNanoseconds)
            let ranks = "\(communicator.worldSize) rank\(communicator.worldSize == 1 ? "" : "s")"
            Console.say("epoch \(epoch)/\(command.epochs): lost \(lostNames.joined(separator: ", ")) after \(fixed(seconds, 1)) s"
                        + " (\(kind.map { "\($0)" } ?? "failure")\(repeating ? "" : " while admitting joining ranks")); continuing on \(ranks)\(how)"
                        + (repeating ? ", epoch \(epoch) again" : " from epoch \(epoch + 1)"))
        }
    }

    /// Puts the whole model together from the stages the survivors hold, as of the end of the
    /// last epoch; if a stage was lost with all its replicas, from the last checkpoint (going
    /// back to the epoch after it). As many stages as before if the survivors still form whole
    /// replicas, else fewer (down to data parallelism). Returns how, for the log.
    func reassemblePipeline() throws -> String {
        let pipeline = trainer as! PipelineTrainer
        var whole = try pipeline.recoverWholeModel(on: communicator, epochsCompleted: epoch - 1)
        var source = "the surviving stages"
        if whole == nil {
            guard let checkpoint = command.checkpoint,
                  let saved = try Checkpoint.load(from: checkpoint, parameterCount: parameterCount, on: communicator) else {
                if leader {
                    Console.error("mnist-train: every replica of a pipeline stage was lost, and there is no --checkpoint to go on from")
                }
                throw ExitCode(1)
            }
            whole = saved
            source = "the checkpoint of epoch \(saved.epochsCompleted)"
            epoch = saved.epochsCompleted + 1
            accuracies = zip(rows, accuracies).filter { $0.0.epoch < epoch }.map(\.1)
            rows = rows.filter { $0.epoch < epoch }
        }
        stages = (1...stages).last { communicator.worldSize % $0 == 0 }!
        (train, test) = try loadData(communicator, stages: stages)
        trainer = try makeTrainer(communicator, stages: stages)
        trainer.load(whole!)
        (trainer as? PipelineTrainer)?.markEpochBoundary()
        return " as \(describe(trainer)) from \(source)"
    }

    /// At the end of an epoch, admits processes waiting to join (collectives-run --join --max):
    /// they learn the epoch to go on with, the classes and the maximum, and every rank moves to
    /// the grown communicator. A rank (old or joining) lost during admission: go on without it
    /// from the communicator before.
    func admitJoiningRanks(after finished: Int) throws {
        let boundary = Deadline.now
        var grown: Communicator?
        do {
            let awaiting = command.awaitJoinAfterEpoch == finished && rankNames.count == originalWorldSize ? 1 : 0
            grown = try communicator.admitJoining(maximumWorldSize: maximumRanks, awaiting: awaiting, settings: command.jobSettings)
            guard let grown else { return }
            let count = grown.worldSize - communicator.worldSize
            let data = try loadData(grown, stages: 1)
            var header: [Int64] = [Int64(finished + 1), Int64(sizes.last!), Int64(maximumRanks ?? 0)]
            try grown.broadcast(&header, root: 0)
            let moved = try (trainer as! DataParallelTrainer).moved(to: grown)
            communicator.close()
            communicator = grown
            trainer = moved
            (train, test) = data
            let newRanks = ((communicator.worldSize - count)..<communicator.worldSize).map { "rank \($0)" }
            rankNames += newRanks.map { "\($0) (joined after epoch \(finished))" }
            if leader {
                Console.say("epoch \(finished)/\(command.epochs): \(newRanks.joined(separator: ", ")) joined; continuing on \(communicator.worldSize) ranks from epoch \(finished + 1)")
            }
        } catch let error as CollectivesError where [.peerGone, .timedOut, .closed, .transport, .rendezvous].contains(error.kind) {
            if let grown {
                grown.abort()
                abandoned.append(grown)
            }
            try goOnWithout(error.kind, since: boundary, repeating: false)
        }
    }
}
