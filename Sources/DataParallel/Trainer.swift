import Collectives
import CollectivesSystem

/// How gradients travel between ranks.
public enum GradientExchange: String, Sendable, CaseIterable {
    /// Every rank all-reduces the gradients (decentralized; no rank is special).
    case allReduce = "all-reduce"
    /// Gradients are reduced to rank 0, which updates the parameters and broadcasts them back:
    /// the parameter-server baseline.
    case centralServer = "central-server"
}

/// Settings of data-parallel training.
public struct TrainingOptions: Sendable {
    /// Examples per step over all ranks together.
    public var globalBatchSize = 128
    public var optimizer = SGD(learningRate: 0.05, momentum: 0.9, weightDecay: 1e-4)
    /// The first gradient bucket's cap: small, so communication starts early in backward.
    public var firstBucketBytes = 64 << 10
    /// The other buckets' cap.
    public var bucketCapBytes = 1 << 20
    /// Start each bucket's all-reduce as soon as backward has finished it (true), or all-reduce
    /// every bucket after backward (false), for comparison.
    public var overlap = true
    public var exchange = GradientExchange.allReduce
    /// The all-reduce algorithm for gradient buckets; `nil` leaves it to the communicator
    /// (``Algorithm/auto`` unless configured otherwise).
    public var algorithm: Algorithm?
    /// Seeds the initial parameters (on rank 0) and the order of examples (on every rank).
    public var seed: UInt64 = 1
    /// Record a timeline of forward, backward and each bucket's communication.
    public var recordTimeline = false
    /// All-reduce gradients in 16 bits (`nil`: in `Float`), through a ``CompressionHook``
    /// unless the trainer is given a hook of its own.
    public var gradientPrecision: HalfPrecision?
    /// With ``gradientPrecision``: carry each rank's rounding error into its next step.
    public var errorFeedback = true
    /// Gradient accumulation: each rank runs its part of a global batch as this many
    /// micro-steps, adding their gradients locally, and communicates once, in the last
    /// micro-step (during its backward with ``overlap``); the others run without synchronizing,
    /// as under DDP's `no_sync`.
    /// The update is the same mean over the global batch; activations are needed for one
    /// micro-step only.
    public var accumulationSteps = 1

    public init() {}
}

/// What one epoch did, the same on every rank (all figures are over all ranks).
public struct EpochReport: Sendable {
    public var epoch: Int
    /// Mean training loss over the epoch's examples.
    public var trainingLoss: Double
    public var trainingAccuracy: Double
    public var examples: Int
    public var seconds: Double
    /// Seconds the collectives ran (on rank 0), hidden or not.
    public var communicationSeconds: Double
    /// Seconds of step time spent waiting for communication that computation did not hide
    /// (rank 0).
    public var exposedCommunicationSeconds: Double
    /// `exposedCommunicationSeconds / seconds`: the share of time communication cost.
    public var communicationOverhead: Double { seconds > 0 ? exposedCommunicationSeconds / seconds : 0 }
    public var examplesPerSecond: Double { seconds > 0 ? Double(examples) / seconds : 0 }
}

/// Trains a model (an ``MLP``, or any ``TrainableModel``) on every rank of a communicator, each rank computing gradients on its own
/// shard of the data and all-reducing them: no parameter server.
///
/// Every step takes the same global batch on every rank count: example indices
/// `permutation[s·B ..< (s+1)·B]` of a permutation drawn from the seed and the epoch. Each rank
/// uses the examples of that batch that lie in its shard, so ranks contribute different numbers
/// of examples; the summed gradients are all-reduced and divided by the global batch size, so
/// the update is exactly the mean over the global batch (and training on *n* ranks matches one
/// rank, up to the order of floating-point sums). Every rank runs the same number of steps.
public final class DataParallelTrainer: DistributedTrainer, @unchecked Sendable {
    public let model: any TrainableModel
    public let communicator: Communicator
    public var examplesUsed: [Int32]?
    /// The settings; the optimizer's learning rate may be changed between steps (schedules).
    public var options: TrainingOptions
    package let buckets: GradientBuckets
    /// How each bucket travels (``AllReduceHook`` unless told otherwise).
    public let hook: any CommunicationHook
    public private(set) var timeline: Timeline
    private let state: SGDState
    private let batchFeatures: UnsafeMutablePointer<Float>
    private let batchLabels: UnsafeMutablePointer<Int32>
    private var exchange: BucketExchange

    /// Makes the trainer; rank 0's initial parameters are broadcast to every rank. `hook` says
    /// how gradient buckets travel; `nil` takes a ``CompressionHook`` when
    /// ``TrainingOptions/gradientPrecision`` is set, else an ``AllReduceHook``.
    public init(model: any TrainableModel, communicator: Communicator, options: TrainingOptions, hook: (any CommunicationHook)? = nil) throws(CollectivesError) {
        self.model = model
        self.communicator = communicator
        self.options = options
        self.hook = hook ?? options.gradientPrecision.map { CompressionHook(precision: $0, errorFeedback: options.errorFeedback) } ?? AllReduceHook()
        buckets = GradientBuckets(parameterCounts: (0..<model.layerCount).map { model.parameterCount(layer: $0) },
                                  offsets: model.offsets, firstBucketBytes: options.firstBucketBytes,
                                  bucketCapBytes: options.bucketCapBytes)
        state = SGDState(count: model.parameterCount)
        batchFeatures = .allocate(capacity: options.globalBatchSize * model.inputWidth)
        batchLabels = .allocate(capacity: options.globalBatchSize)
        exchange = BucketExchange(buckets: buckets, hook: self.hook)
        // Everyone starts from rank 0's parameters, and the timeline from a common moment.
        try communicator.broadcast(model.parameters, root: 0)
        var sync: [Int32] = [0]
        try communicator.allReduce(&sync)
        timeline = Timeline(origin: MonotonicClock.nanoseconds, isRecording: options.recordTimeline)
    }

    deinit {
        batchFeatures.deallocate()
        batchLabels.deallocate()
    }

    /// Bytes this rank puts into the gradient all-reduces of one step (all buckets).
    public var gradientBytesPerStep: Int {
        // The central server reduces the Float gradients whole, without the hook.
        guard options.exchange == .allReduce else { return model.parameterCount * 4 }
        return exchange.wireBytes
    }

    /// One step on the global batch `batch` (example indices): forward and backward on this
    /// rank's part, exchange of gradients, update.
    public func trainStep(batch: ArraySlice<Int32>, data: LabeledDataset)
        throws(CollectivesError) -> (loss: Double, correct: Int, communication: UInt64, exposed: UInt64) {
        let local = gatherLocalExamples(of: batch, from: data)
        let width = data.featureCount
        // Micro-steps before the last add their gradients locally, without communicating.
        let microSteps = max(1, options.accumulationSteps)
        var t = MonotonicClock.nanoseconds, now = t
        var loss = 0.0, correct = 0
        for micro in 0..<microSteps {
            let part = LabeledDataset.shard(of: local, rank: micro, worldSize: microSteps)
            model.forward(batchFeatures + part.lowerBound * width, count: part.count)
            let result = model.loss(labels: batchLabels + part.lowerBound)
            loss += result.loss
            correct += result.correct
            // The last micro-step's backward runs below, with the exchange.
            guard micro < microSteps - 1 else { break }
            model.backward(accumulating: micro > 0) { _ in }
            now = MonotonicClock.nanoseconds
            timeline.record("forward and backward without sync", from: t, to: now)
            t = now
        }
        now = MonotonicClock.nanoseconds
        timeline.record("forward", from: t, to: now)
        t = now

        var communication: UInt64 = 0, exposed: UInt64 = 0
        let gradients = model.gradients
        let overlapping = options.exchange == .allReduce && options.overlap
        model.backward(accumulating: microSteps > 1) { layer in
            if overlapping { exchange.layerDone(layer, gradients: gradients, communicator: communicator, algorithm: options.algorithm) }
        }
        now = MonotonicClock.nanoseconds
        timeline.record("backward", from: t, to: now)
        t = now

        switch options.exchange {
        case .allReduce where overlapping:
            communication += try exchange.finishAll(gradients: gradients, timeline: &timeline)
            now = MonotonicClock.nanoseconds
            exposed = now - t
            timeline.record("wait for communication", from: t, to: now)
        case .allReduce:
            communication += try exchange.exchangeAll(gradients: gradients, communicator: communicator, algorithm: options.algorithm,
                                                      timeline: &timeline)
            now = MonotonicClock.nanoseconds
            exposed = now - t
        case .centralServer:
            try communicator.reduce(gradients, op: .sum, root: 0)
            now = MonotonicClock.nanoseconds
            timeline.record("reduce to rank 0", thread: 1, from: t, to: now)
            communication += now - t
            exposed += now - t
        }

        // Update: everyone (all-reduce), or rank 0 then a broadcast (central server).
        t = MonotonicClock.nanoseconds
        let scale = 1 / Float(batch.count)
        if options.exchange == .allReduce || communicator.rank == 0 {
            state.step(options.optimizer, parameters: model.parameters, gradients: gradients, gradientScale: scale)
        }
        now = MonotonicClock.nanoseconds
        timeline.record("optimizer", from: t, to: now)
        if options.exchange == .centralServer {
            t = now
            try communicator.broadcast(model.parameters, root: 0)
            now = MonotonicClock.nanoseconds
            timeline.record("broadcast from rank 0", thread: 1, from: t, to: now)
            communication += now - t
            exposed += now - t
        }
        return (loss, correct, communication, exposed)
    }

    /// Copies this rank's examples of the global batch `batch` into the batch buffers; returns
    /// how many there are.
    private func gatherLocalExamples(of batch: ArraySlice<Int32>, from data: LabeledDataset) -> Int {
        var local = 0
        let width = data.featureCount
        data.features.withUnsafeBufferPointer { features in
            for index in batch where data.indices.contains(Int(index)) {
                examplesUsed?.append(index)
                let row = Int(index) - data.firstIndex
                (batchFeatures + local * width).update(from: features.baseAddress! + row * width, count: width)
                batchLabels[local] = data.labels[row]
                local += 1
            }
        }
        return local
    }

    /// Accuracy on `data` (each rank evaluates its shard; counts are summed over ranks).
    public func evaluate(_ data: LabeledDataset) throws(CollectivesError) -> Double {
        let chunk = options.globalBatchSize
        var correct = 0
        let predictions = UnsafeMutablePointer<Int32>.allocate(capacity: chunk)
        defer { predictions.deallocate() }
        data.features.withUnsafeBufferPointer { features in
            var start = 0
            while start < data.count {
                let count = min(chunk, data.count - start)
                model.predict(features.baseAddress! + start * data.featureCount, count: count, into: predictions)
                for i in 0..<count where predictions[i] == data.labels[start + i] { correct += 1 }
                start += count
            }
        }
        var totals: [Int64] = [Int64(correct), Int64(data.count)]
        try communicator.allReduce(&totals, op: .sum)
        return totals[1] > 0 ? Double(totals[0]) / Double(totals[1]) : 0
    }

    /// This trainer's model, options, hook and optimizer state on another communicator (the one
    /// `Communicator.shrink` or `Communicator.admitJoining` made): the new rank 0's parameters
    /// and velocities are broadcast, so every rank goes on from the same state even if a rank had
    /// applied a step the others had not. A rank that joined makes its trainer on the new
    /// communicator and calls ``synchronizeOptimizerState()``, matching this.
    public func moved(to communicator: Communicator) throws(CollectivesError) -> DataParallelTrainer {
        let next = try DataParallelTrainer(model: model, communicator: communicator, options: options, hook: hook)
        _ = next.state.velocity.update(fromContentsOf: state.velocity)
        try next.synchronizeOptimizerState()
        return next
    }

    /// Broadcasts rank 0's optimizer state (the parameters are broadcast when a trainer is made).
    public func synchronizeOptimizerState() throws(CollectivesError) {
        try communicator.broadcast(state.velocity, root: 0)
    }

    /// Writes a ``Checkpoint`` of the parameters and the optimizer's state after
    /// `epochsCompleted` epochs into `directory`: rank 0 writes it (every rank holds the same
    /// state), then every rank learns whether that worked, so the next epoch starts only once the
    /// checkpoint is complete. A ``CompressionHook``'s residuals are not saved.
    public func saveCheckpoint(to directory: String, epochsCompleted: Int) throws {
        let contents = communicator.rank == 0
            ? Checkpoint(epochsCompleted: epochsCompleted, parameters: Array(model.parameters), velocity: Array(state.velocity)) : nil
        try Checkpoint.save(contents, to: directory, on: communicator)
    }

    /// Restores the parameters and the optimizer's state from the checkpoint in `directory`:
    /// rank 0 reads it (so the directory need not be shared) and broadcasts it. Returns the
    /// epochs it had completed, or `nil` when there is no checkpoint there yet.
    public func restoreCheckpoint(from directory: String) throws -> Int? {
        guard let loaded = try Checkpoint.load(from: directory, parameterCount: model.parameterCount, on: communicator) else { return nil }
        load(loaded)
        return loaded.epochsCompleted
    }

    /// Replaces the parameters and optimizer state with a whole model's (a ``Checkpoint`` read,
    /// or one a ``PipelineTrainer`` put together after ranks were lost).
    public func load(_ whole: Checkpoint) {
        precondition(whole.parameters.count == model.parameterCount && whole.velocity.count == model.parameterCount)
        _ = model.parameters.update(fromContentsOf: whole.parameters)
        _ = state.velocity.update(fromContentsOf: whole.velocity)
    }

    /// A checksum of the parameters' bytes (FNV-1a) and whether every rank has the same one.
    public func parameterChecksum() throws(CollectivesError) -> (checksum: UInt64, identicalOnAllRanks: Bool) {
        let hash = ParameterChecksum.fnv1a(model.parameters)
        return (hash, try ParameterChecksum.identical(hash, on: communicator))
    }

    /// Every rank's timeline spans, gathered on rank 0 (others get an empty list).
    public func gatherTimeline() throws(CollectivesError) -> [[Timeline.Span]] {
        var names = ["forward", "backward", "wait for communication", "optimizer", "reduce to rank 0", "broadcast from rank 0",
                     "forward and backward without sync"]
        names += buckets.buckets.indices.map { "all-reduce bucket \($0)" }
        return try timeline.gathered(names: names, on: communicator)
    }
}
