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
public final class DataParallelTrainer: @unchecked Sendable {
    public let model: any TrainableModel
    public let communicator: Communicator
    /// The settings; the optimizer's learning rate may be changed between steps (schedules).
    public var options: TrainingOptions
    public let buckets: GradientBuckets
    /// How each bucket travels (``AllReduceHook`` unless told otherwise).
    public let hook: any CommunicationHook
    public private(set) var timeline: Timeline
    private let state: SGDState
    private let batchFeatures: UnsafeMutablePointer<Float>
    private let batchLabels: UnsafeMutablePointer<Int32>
    private var requests: [CollectiveRequest?]

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
        requests = Array(repeating: nil, count: buckets.buckets.count)
        // Everyone starts from rank 0's parameters, and the timeline from a common moment.
        try communicator.broadcast(model.parameters, root: 0)
        var sync: [Int32] = [0]
        try communicator.allReduce(&sync)
        timeline = Timeline(origin: Deadline.now.uptimeNanoseconds, isRecording: options.recordTimeline)
    }

    deinit {
        batchFeatures.deallocate()
        batchLabels.deallocate()
    }

    /// Bytes this rank puts into the gradient all-reduces of one step (all buckets).
    public var gradientBytesPerStep: Int {
        // The central server reduces the Float gradients whole, without the hook.
        guard options.exchange == .allReduce else { return model.parameterCount * 4 }
        return buckets.buckets.reduce(0) { $0 + hook.wireBytes(count: $1.range.count) }
    }

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
        let started = Deadline.now.uptimeNanoseconds
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
        let seconds = Double(Deadline.now.uptimeNanoseconds - started) / 1e9
        var totals = [lossSum, Double(correct)]
        try communicator.allReduce(&totals, op: .sum)
        let examples = min(data.totalCount, steps * options.globalBatchSize)
        return EpochReport(epoch: epoch, trainingLoss: totals[0] / Double(max(1, examples)),
                           trainingAccuracy: totals[1] / Double(max(1, examples)), examples: examples, seconds: seconds,
                           communicationSeconds: Double(communication) / 1e9, exposedCommunicationSeconds: Double(exposed) / 1e9)
    }

    /// One step on the global batch `batch` (example indices): forward and backward on this
    /// rank's part, exchange of gradients, update.
    public func trainStep(batch: ArraySlice<Int32>, data: LabeledDataset)
        throws(CollectivesError) -> (loss: Double, correct: Int, communication: UInt64, exposed: UInt64) {
        // This rank's examples of the global batch.
        var local = 0
        let width = data.featureCount
        data.features.withUnsafeBufferPointer { features in
            for index in batch where data.indices.contains(Int(index)) {
                let row = Int(index) - data.firstIndex
                (batchFeatures + local * width).update(from: features.baseAddress! + row * width, count: width)
                batchLabels[local] = data.labels[row]
                local += 1
            }
        }
        var t = Deadline.now.uptimeNanoseconds
        model.forward(batchFeatures, count: local)
        let (loss, correct) = model.loss(labels: batchLabels)
        var now = Deadline.now.uptimeNanoseconds
        timeline.record("forward", from: t, to: now)
        t = now

        var communication: UInt64 = 0, exposed: UInt64 = 0
        let gradients = model.gradients
        let overlapping = options.exchange == .allReduce && options.overlap
        var pendingLayers = buckets.buckets.map { $0.layers.count }
        model.backward { layer in
            guard overlapping else { return }
            let bucket = buckets.bucketOfLayer[layer]
            pendingLayers[bucket] -= 1
            if pendingLayers[bucket] == 0 {
                let range = buckets.buckets[bucket].range
                requests[bucket] = hook.start(bucket: bucket, gradients: UnsafeMutableBufferPointer(rebasing: gradients[range]),
                                              communicator: communicator, algorithm: options.algorithm)
            }
        }
        now = Deadline.now.uptimeNanoseconds
        timeline.record("backward", from: t, to: now)
        t = now

        switch options.exchange {
        case .allReduce where overlapping:
            for (index, request) in requests.enumerated() {
                try request?.wait()
                if request != nil {
                    hook.finish(bucket: index, gradients: UnsafeMutableBufferPointer(rebasing: gradients[buckets.buckets[index].range]))
                }
                if let (start, end) = request?.executionInterval {
                    communication += end - start
                    timeline.record("all-reduce bucket \(index)", thread: 1, from: start, to: end)
                }
                requests[index] = nil
            }
            now = Deadline.now.uptimeNanoseconds
            exposed = now - t
            timeline.record("wait for communication", from: t, to: now)
        case .allReduce:
            for (index, bucket) in buckets.buckets.enumerated() {
                let start = Deadline.now.uptimeNanoseconds
                let slice = UnsafeMutableBufferPointer(rebasing: gradients[bucket.range])
                try hook.start(bucket: index, gradients: slice, communicator: communicator, algorithm: options.algorithm).wait()
                hook.finish(bucket: index, gradients: slice)
                let end = Deadline.now.uptimeNanoseconds
                timeline.record("all-reduce bucket \(index)", thread: 1, from: start, to: end)
                communication += end - start
            }
            now = Deadline.now.uptimeNanoseconds
            exposed = now - t
        case .centralServer:
            try communicator.reduce(gradients, op: .sum, root: 0)
            now = Deadline.now.uptimeNanoseconds
            timeline.record("reduce to rank 0", thread: 1, from: t, to: now)
            communication += now - t
            exposed += now - t
        }

        // Update: everyone (all-reduce), or rank 0 then a broadcast (central server).
        t = Deadline.now.uptimeNanoseconds
        let scale = 1 / Float(batch.count)
        if options.exchange == .allReduce || communicator.rank == 0 {
            state.step(options.optimizer, parameters: model.parameters, gradients: gradients, gradientScale: scale)
        }
        now = Deadline.now.uptimeNanoseconds
        timeline.record("optimizer", from: t, to: now)
        if options.exchange == .centralServer {
            t = now
            try communicator.broadcast(model.parameters, root: 0)
            now = Deadline.now.uptimeNanoseconds
            timeline.record("broadcast from rank 0", thread: 1, from: t, to: now)
            communication += now - t
            exposed += now - t
        }
        return (loss, correct, communication, exposed)
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
    /// `Communicator.shrink` made after ranks were lost): the new rank 0's parameters and
    /// velocities are broadcast, so every rank goes on from the same state even if a rank had
    /// applied a step the others had not.
    public func moved(to communicator: Communicator) throws(CollectivesError) -> DataParallelTrainer {
        let next = try DataParallelTrainer(model: model, communicator: communicator, options: options, hook: hook)
        _ = next.state.velocity.update(fromContentsOf: state.velocity)
        try communicator.broadcast(next.state.velocity, root: 0)
        return next
    }

    /// Writes a ``Checkpoint`` of the parameters and the optimizer's state after
    /// `epochsCompleted` epochs into `directory`: rank 0 writes it (every rank holds the same
    /// state), then every rank learns whether that worked, so the next epoch starts only once the
    /// checkpoint is complete. A ``CompressionHook``'s residuals are not saved.
    public func saveCheckpoint(to directory: String, epochsCompleted: Int) throws {
        var failed: [Int32] = [0]
        var writeError: CheckpointError?
        if communicator.rank == 0 {
            do {
                try Checkpoint(epochsCompleted: epochsCompleted, parameters: Array(model.parameters), velocity: Array(state.velocity))
                    .write(to: directory)
            } catch {
                writeError = error
                failed = [1]
            }
        }
        try communicator.allReduce(&failed, op: .max)
        if let writeError { throw writeError }
        if failed[0] != 0 {
            throw CheckpointError(path: Checkpoint.path(in: directory), reason: "rank 0 could not write it (its output says why)")
        }
    }

    /// Restores the parameters and the optimizer's state from the checkpoint in `directory`:
    /// rank 0 reads it (so the directory need not be shared) and broadcasts it. Returns the
    /// epochs it had completed, or `nil` when there is no checkpoint there yet.
    public func restoreCheckpoint(from directory: String) throws -> Int? {
        var header: [Int64] = [-1, 0]
        var loaded: Checkpoint?
        var readError: CheckpointError?
        if communicator.rank == 0 {
            do {
                loaded = try Checkpoint.read(from: directory)
                header = loaded.map { [Int64($0.epochsCompleted), Int64($0.parameters.count)] } ?? [-1, 0]
            } catch {
                readError = error
                header = [-2, 0]
            }
        }
        try communicator.broadcast(&header, root: 0)
        let path = Checkpoint.path(in: directory)
        if header[0] == -2 { throw readError ?? CheckpointError(path: path, reason: "rank 0 could not read it (its output says why)") }
        if header[0] == -1 { return nil }
        guard header[1] == Int64(model.parameterCount) else {
            throw CheckpointError(path: path, reason: "it holds \(header[1]) parameters, this model \(model.parameterCount)")
        }
        if let loaded {
            _ = model.parameters.update(fromContentsOf: loaded.parameters)
            _ = state.velocity.update(fromContentsOf: loaded.velocity)
        }
        try communicator.broadcast(model.parameters, root: 0)
        try communicator.broadcast(state.velocity, root: 0)
        return Int(header[0])
    }

    /// A checksum of the parameters' bytes (FNV-1a) and whether every rank has the same one.
    public func parameterChecksum() throws(CollectivesError) -> (checksum: UInt64, identicalOnAllRanks: Bool) {
        var hash: UInt64 = 0xcbf2_9ce4_8422_2325
        for byte in UnsafeRawBufferPointer(model.parameters) {
            hash = (hash ^ UInt64(byte)) &* 0x100_0000_01b3
        }
        var low = [Int64(bitPattern: hash)], high = [Int64(bitPattern: hash)]
        try communicator.allReduce(&low, op: .min)
        try communicator.allReduce(&high, op: .max)
        return (hash, low == high)
    }

    /// Every rank's timeline spans, gathered on rank 0 (others get an empty list).
    public func gatherTimeline() throws(CollectivesError) -> [[Timeline.Span]] {
        var names = ["forward", "backward", "wait for communication", "optimizer", "reduce to rank 0", "broadcast from rank 0"]
        names += buckets.buckets.indices.map { "all-reduce bucket \($0)" }
        var gathered: [[Timeline.Span]] = []
        for root in 0..<communicator.worldSize {
            var length: [Int64] = [root == communicator.rank ? Int64(timeline.spans.count * 4) : 0]
            try communicator.broadcast(&length, root: root)
            var values = root == communicator.rank ? timeline.encoded(names: names) : [Double](repeating: 0, count: Int(length[0]))
            try communicator.broadcast(&values, root: root)
            var spans: [Timeline.Span] = []
            for i in stride(from: 0, to: values.count, by: 4) {
                spans.append(Timeline.Span(name: names[min(names.count - 1, Int(values[i]))], thread: Int(values[i + 1]),
                                           start: values[i + 2], duration: values[i + 3]))
            }
            gathered.append(communicator.rank == 0 ? spans : [])
        }
        return gathered
    }
}
