import Collectives
import CollectivesSystem

/// What ``DataParallelTrainer`` and ``PipelineTrainer`` share: steps over global batches drawn
/// in the same order on every rank, evaluation, checkpoints, checksums and timelines, so a
/// program (the `mnist-train` demo) can drive either.
public protocol DistributedTrainer: AnyObject {
    /// Every rank of the job.
    var communicator: Communicator { get }
    /// The settings; the optimizer's learning rate may be changed between steps (schedules).
    var options: TrainingOptions { get set }
    /// Bytes this rank puts into the gradient exchange of one step.
    var gradientBytesPerStep: Int { get }
    /// One step on the global batch `batch` (example indices into the whole data set, of which
    /// `data` is this rank's shard): the loss and correct predictions of this rank's examples,
    /// and the nanoseconds of communication in all and not hidden by computation.
    func trainStep(batch: ArraySlice<Int32>, data: LabeledDataset)
        throws(CollectivesError) -> (loss: Double, correct: Int, communication: UInt64, exposed: UInt64)
    /// Accuracy on `data`, over all ranks.
    func evaluate(_ data: LabeledDataset) throws(CollectivesError) -> Double
    /// A checksum of this rank's parameters and whether every rank that should hold the same
    /// parameters does.
    func parameterChecksum() throws(CollectivesError) -> (checksum: UInt64, identicalOnAllRanks: Bool)
    /// Every rank's timeline, on rank 0.
    func gatherTimeline() throws(CollectivesError) -> [[Timeline.Span]]
    /// Writes a ``Checkpoint`` after `epochsCompleted` epochs.
    func saveCheckpoint(to directory: String, epochsCompleted: Int) throws
    /// Restores the last checkpoint in `directory`; the epochs it had completed, or `nil`.
    func restoreCheckpoint(from directory: String) throws -> Int?
    /// Takes this rank's part of a whole model's parameters and optimizer state.
    func load(_ whole: Checkpoint)
    /// When not nil, every example index this rank trains on is appended, in order (a record
    /// for tests that check each example is used exactly once per epoch; a pipeline records on
    /// its first stage, the one that reads the examples).
    var examplesUsed: [Int32]? { get set }
    /// Gives up on the step under way after ranks were lost, before `Communicator.shrink`
    /// (which aborts only the job's communicator): aborts any sub-communicators this trainer
    /// made, so ranks waiting on this one there fail at once instead of at their timeout. The
    /// default does nothing.
    func abort()
}

extension DistributedTrainer {
    /// A trainer without sub-communicators has nothing to abort.
    public func abort() {}

    /// Steps per epoch for `totalExamples` (the last batch may be smaller).
    public func stepsPerEpoch(totalExamples: Int) -> Int {
        (totalExamples + options.globalBatchSize - 1) / options.globalBatchSize
    }

    /// The order of examples in `epoch`, the same on every rank.
    public func permutation(epoch: Int, totalExamples: Int) -> [Int32] {
        var order = (0..<Int32(totalExamples)).map { $0 }
        var generator = SeededGenerator(seed: options.seed &* 0x9E37_79B9 &+ UInt64(epoch) &+ 0x5EED)
        order.shuffle(using: &generator)
        return order
    }

    /// Runs one epoch over `data` (this rank's shard). `progress(step, steps)` is called after
    /// every step.
    public func trainEpoch(_ data: LabeledDataset, epoch: Int, steps limit: Int? = nil,
                           progress: (Int, Int) -> Void = { _, _ in }) throws(CollectivesError) -> EpochReport {
        let order = permutation(epoch: epoch, totalExamples: data.totalCount)
        let steps = min(limit ?? .max, stepsPerEpoch(totalExamples: data.totalCount))
        let started = MonotonicClock.nanoseconds
        var lossSum = 0.0, correct = 0, communication: UInt64 = 0, exposed: UInt64 = 0
        for step in 0..<steps {
            let batch = order[(step * options.globalBatchSize)..<min(order.count, (step + 1) * options.globalBatchSize)]
            let result = try trainStep(batch: batch, data: data)
            lossSum += result.loss
            correct += result.correct
            communication += result.communication
            exposed += result.exposed
            progress(step + 1, steps)
        }
        let seconds = MonotonicClock.seconds(since: started)
        var totals = [lossSum, Double(correct)]
        try communicator.allReduce(&totals, op: .sum)
        let examples = min(data.totalCount, steps * options.globalBatchSize)
        return EpochReport(epoch: epoch, trainingLoss: totals[0] / Double(max(1, examples)),
                           trainingAccuracy: totals[1] / Double(max(1, examples)), examples: examples, seconds: seconds,
                           communicationSeconds: Double(communication) / 1e9, exposedCommunicationSeconds: Double(exposed) / 1e9)
    }
}
