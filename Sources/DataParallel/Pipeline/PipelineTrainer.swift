import Collectives
import CollectivesSystem

/// Trains an ``MLP`` cut into pipeline stages (model parallelism), combined with data
/// parallelism: the job's ranks form `replicas × stages`, rank `r` being stage `r % stages` of
/// replica `r / stages`.
///
/// Each replica's ranks hold one stage's layers each and pass activations forward and
/// gradients backward with send and receive (``pipeline``); each replica takes its shard of the
/// data, cuts its part of every global batch into micro-batches and runs them through the
/// stages by a ``PipelineSchedule``, so stages work on different micro-batches at once. The
/// gradients of a stage, summed over its micro-batches, are all-reduced between the replicas
/// of that stage (``replicaGroup``) while the last micro-batch's backward goes on, and every
/// stage then takes the same optimizer step as data-parallel training would: the update is
/// the mean over the global batch, so with the same seed and batch the parameters follow
/// plain data-parallel training up to the order of floating-point sums.
public final class PipelineTrainer: DistributedTrainer, @unchecked Sendable {
    /// Every rank of the job.
    public let communicator: Communicator
    public var examplesUsed: [Int32]?
    /// The stages of this rank's replica, ranked by stage.
    public let pipeline: Communicator
    /// This stage in every replica, ranked by replica: where its gradients are all-reduced.
    public let replicaGroup: Communicator
    public let stage: Int
    public let stageCount: Int
    public let replica: Int
    public let replicaCount: Int
    public let microBatches: Int
    public let schedule: PipelineSchedule
    /// The whole model's layer sizes.
    public let layerSizes: [Int]
    /// The whole model's layers this stage holds.
    public let layers: Range<Int>
    /// This stage's layers, as a model of their own.
    public let model: MLP
    /// Where this stage's parameters lie in the whole ``MLP``'s flat buffer (last layer first).
    public let parameterRange: Range<Int>
    /// Parameters of the whole model.
    public let totalParameterCount: Int
    public var options: TrainingOptions
    /// This stage's gradient buckets.
    package let buckets: GradientBuckets
    public let hook: any CommunicationHook
    public private(set) var timeline: Timeline
    let state: SGDState
    private var exchange: BucketExchange
    private let labels: UnsafeMutablePointer<Int32>
    private var rows: [Int] = []
    /// Sends still in flight from each activation slot's buffers.
    private var slotSends: [[PointToPointRequest]]
    /// This stage's parameters and velocities at the last ``markEpochBoundary()`` (or the start).
    var snapshot: (parameters: [Float], velocity: [Float])?

    /// The stage and replica of `rank` in a job cut into `stages` stages.
    package static func position(rank: Int, stages: Int) -> (stage: Int, replica: Int) {
        (rank % stages, rank / stages)
    }

    /// How `layerSizes`' layers are cut into `stages` stages (balanced by parameter count).
    package static func partition(layerSizes: [Int], stages: Int) -> [Range<Int>] {
        PipelinePartition.layers(costs: (0..<(layerSizes.count - 1)).map { layerSizes[$0 + 1] * layerSizes[$0] + layerSizes[$0 + 1] },
                                 stages: stages)
    }

    /// Sets up this rank's stage: the whole model is initialised from `seed` as ``MLP`` would be,
    /// this stage keeps its layers (replica 0's are broadcast to the other replicas), and the
    /// sub-communicators are split off `communicator` (a collective call on every rank).
    public init(layerSizes: [Int], seed: UInt64, communicator: Communicator, stages: Int, microBatches: Int,
                schedule: PipelineSchedule = .oneForwardOneBackward, options: TrainingOptions,
                hook: (any CommunicationHook)? = nil) throws(CollectivesError) {
        func invalid(_ reason: String) -> CollectivesError {
            CollectivesError(.invalidArgument, rank: communicator.rank, operation: "pipeline set-up", reason: reason)
        }
        let layerCount = layerSizes.count - 1
        guard stages >= 1, communicator.worldSize % stages == 0 else {
            throw invalid("\(stages) pipeline stages do not divide the \(communicator.worldSize) ranks into whole replicas")
        }
        guard stages <= layerCount else { throw invalid("\(stages) stages for a model of \(layerCount) layers (each stage needs one)") }
        guard microBatches >= 1 else { throw invalid("\(microBatches) micro-batches: at least 1") }
        self.communicator = communicator
        self.layerSizes = layerSizes
        self.microBatches = microBatches
        self.schedule = schedule
        self.options = options
        stageCount = stages
        replicaCount = communicator.worldSize / stages
        (stage, replica) = Self.position(rank: communicator.rank, stages: stages)
        guard let pipeline = try communicator.split(color: replica, key: stage),
              let replicaGroup = try communicator.split(color: stage, key: replica) else { throw invalid("split gave no communicator") }
        self.pipeline = pipeline
        self.replicaGroup = replicaGroup

        let layers = Self.partition(layerSizes: layerSizes, stages: stages)[stage]
        self.layers = layers
        totalParameterCount = MLP.layout(layerSizes: layerSizes).total
        parameterRange = Self.parameterRanges(layerSizes: layerSizes, stages: stages)[stage]
        let capacity = (options.globalBatchSize + microBatches - 1) / microBatches
        // One activation slot per micro-batch in flight at once (S − s under 1F1B, M under
        // GPipe); micro-batch m uses slot m mod slots.
        let slots = Swift.max(1, schedule.activationsInFlight(stage: stage, stages: stages, microBatches: microBatches))
        slotSends = Array(repeating: [], count: slots)
        let model = MLP(layerSizes: Array(layerSizes[layers.lowerBound...layers.upperBound]), batchCapacity: capacity, seed: seed,
                        slots: slots, reluOnOutput: stage < stages - 1)
        precondition(model.parameterCount == parameterRange.count)
        // The whole model's initial weights for this stage's layers (the biases start at 0).
        MLP.drawInitialWeights(layerSizes: layerSizes, seed: seed, layers: layers) { l, weights in
            _ = UnsafeMutableBufferPointer(start: model.weights(l - layers.lowerBound), count: weights.count).update(fromContentsOf: weights)
        }
        self.model = model

        self.hook = hook ?? options.gradientPrecision.map { CompressionHook(precision: $0, errorFeedback: options.errorFeedback) } ?? AllReduceHook()
        buckets = GradientBuckets(parameterCounts: (0..<model.layerCount).map { model.parameterCount(layer: $0) },
                                  offsets: model.offsets, firstBucketBytes: options.firstBucketBytes,
                                  bucketCapBytes: options.bucketCapBytes)
        exchange = BucketExchange(buckets: buckets, hook: self.hook)
        state = SGDState(count: model.parameterCount)
        labels = .allocate(capacity: max(1, options.globalBatchSize))
        rows.reserveCapacity(options.globalBatchSize)
        try replicaGroup.broadcast(model.parameters, root: 0)
        var sync: [Int32] = [0]
        try communicator.allReduce(&sync)
        timeline = Timeline(origin: MonotonicClock.nanoseconds, isRecording: options.recordTimeline)
        markEpochBoundary()
    }

    deinit {
        labels.deallocate()
        pipeline.close()
        replicaGroup.close()
    }

    private var isFirst: Bool { stage == 0 }
    private var isLast: Bool { stage == stageCount - 1 }
    private var inputWidth: Int { model.layerSizes[0] }
    private var outputWidth: Int { model.layerSizes[model.layerCount] }

    /// Bytes this rank puts into the all-reduce of its stage's gradients per step.
    public var gradientBytesPerStep: Int { replicaCount > 1 ? exchange.wireBytes : 0 }

    /// Bytes this rank sends to its neighbouring stages per step, for a global batch split
    /// evenly between the replicas: activations forward, their gradients backward.
    public var activationBytesPerStep: Int {
        let examples = options.globalBatchSize / replicaCount
        return examples * ((isLast ? 0 : outputWidth) + (isFirst ? 0 : inputWidth)) * 4
    }

    private func record(_ name: @autoclosure () -> String, thread: Int = 0, from start: UInt64, to end: UInt64) {
        if timeline.isRecording { timeline.record(name(), thread: thread, from: start, to: end) }
    }

    /// One step on the global batch `batch`: this replica's examples of it, cut into
    /// micro-batches, through the stages by the schedule; this stage's gradients all-reduced
    /// between replicas; the optimizer's step. `exposed` counts the time this stage waited for
    /// the others (the pipeline's bubble and transfers) and for the all-reduce.
    public func trainStep(batch: ArraySlice<Int32>, data: LabeledDataset)
        throws(CollectivesError) -> (loss: Double, correct: Int, communication: UInt64, exposed: UInt64) {
        defer { for slot in slotSends.indices { slotSends[slot].removeAll(keepingCapacity: true) } }
        let local = takeRows(of: batch, from: data)
        var tally = StepTally(t: MonotonicClock.nanoseconds)
        let overlapping = options.overlap && replicaCount > 1
        for step in schedule.steps(stage: stage, stages: stageCount, microBatches: microBatches) {
            switch step {
            case .forward(let m): try forward(microBatch: m, of: local, data: data, tally: &tally)
            case .backward(let m): try backward(microBatch: m, of: local, overlapping: overlapping, tally: &tally)
            }
        }

        // The neighbours' messages first: the stage before may still wait for this one's last
        // gradients, and the pipeline's messages move only while this rank waits on them.
        for send in slotSends.joined() { try send.wait() }
        tally.lap("wait for sends", self, exposed: true)
        var communication: UInt64 = 0
        let gradients = model.gradients
        if replicaCount > 1 {
            communication = overlapping
                ? try exchange.finishAll(gradients: gradients, timeline: &timeline)
                : try exchange.exchangeAll(gradients: gradients, communicator: replicaGroup, algorithm: options.algorithm, timeline: &timeline)
            tally.lap("wait for communication", self, exposed: true)
        }
        state.step(options.optimizer, parameters: model.parameters, gradients: gradients, gradientScale: 1 / Float(batch.count))
        tally.lap("optimizer", self)
        return (tally.loss, tally.correct, communication, tally.exposed)
    }

    /// What one step has computed and measured so far: the time its last phase began, the time
    /// spent waiting for others, the loss and the correct predictions.
    private struct StepTally {
        var t: UInt64
        var exposed: UInt64 = 0
        var loss = 0.0
        var correct = 0

        /// Ends a phase named `name` now (recorded on the timeline; counted as waiting when
        /// `exposed`) and begins the next.
        mutating func lap(_ name: @autoclosure () -> String, _ trainer: PipelineTrainer, exposed waited: Bool = false) {
            let now = MonotonicClock.nanoseconds
            trainer.record(name(), from: t, to: now)
            if waited { exposed += now - t }
            t = now
        }
    }

    /// Notes the rows of this replica's examples of `batch` (and, on the last stage, their
    /// labels); returns how many there are.
    private func takeRows(of batch: ArraySlice<Int32>, from data: LabeledDataset) -> Int {
        rows.removeAll(keepingCapacity: true)
        for index in batch where data.indices.contains(Int(index)) {
            rows.append(Int(index) - data.firstIndex)
            if isFirst { examplesUsed?.append(index) }
        }
        if isFirst {
            precondition(data.featureCount == inputWidth, "the data's \(data.featureCount) features do not fit the model's \(inputWidth) inputs")
        }
        if isLast {
            for (k, row) in rows.enumerated() { labels[k] = data.labels[row] }
        }
        return rows.count
    }

    /// Micro-batch `m` forward: its inputs (from the data, or received from the stage before),
    /// this stage's layers, the loss on the last stage, the activations sent on.
    private func forward(microBatch m: Int, of local: Int, data: LabeledDataset, tally: inout StepTally) throws(CollectivesError) {
        let part = LabeledDataset.shard(of: local, rank: m, worldSize: microBatches)
        let slot = m % model.slots, width = inputWidth
        // The slot's last micro-batch is done with (its backward ran): its messages must have
        // left before the slot's buffers are overwritten.
        for send in slotSends[slot] { try send.wait() }
        slotSends[slot].removeAll(keepingCapacity: true)
        if isFirst {
            let input = model.input(slot: slot)
            data.features.withUnsafeBufferPointer { features in
                for (k, row) in rows[part].enumerated() {
                    (input + k * width).update(from: features.baseAddress! + row * width, count: width)
                }
            }
        } else {
            try pipeline.receive(into: UnsafeMutableBufferPointer(start: model.input(slot: slot), count: part.count * width),
                                 from: stage - 1, tag: m)
            tally.lap("receive activations", self, exposed: true)
        }
        let output = model.forward(model.input(slot: slot), count: part.count, slot: slot)
        if isLast {
            let result = model.loss(labels: labels + part.lowerBound, slot: slot)
            tally.loss += result.loss
            tally.correct += result.correct
        }
        tally.lap("forward micro-batch \(m)", self)
        if !isLast {
            slotSends[slot].append(pipeline.startSend(UnsafeBufferPointer(start: output, count: part.count * outputWidth), to: stage + 1, tag: m))
        }
    }

    /// Micro-batch `m` backward: the output gradients (received from the stage after, unless
    /// this is the last), this stage's layers, the input gradients sent back. The last
    /// micro-batch's backward finishes each layer's gradients: with `overlapping`, its buckets
    /// travel between replicas while the layers below are computed.
    private func backward(microBatch m: Int, of local: Int, overlapping: Bool, tally: inout StepTally) throws(CollectivesError) {
        let part = LabeledDataset.shard(of: local, rank: m, worldSize: microBatches)
        let slot = m % model.slots
        if !isLast {
            try pipeline.receive(into: UnsafeMutableBufferPointer(start: model.outputGradient(slot: slot), count: part.count * outputWidth),
                                 from: stage + 1, tag: m)
            tally.lap("receive gradients", self, exposed: true)
        }
        let final = m == microBatches - 1, gradients = model.gradients
        model.backward(slot: slot, accumulating: m > 0, inputGradient: !isFirst) { layer in
            if final && overlapping {
                exchange.layerDone(layer, gradients: gradients, communicator: replicaGroup, algorithm: options.algorithm)
            }
        }
        tally.lap("backward micro-batch \(m)", self)
        if !isFirst {
            slotSends[slot].append(pipeline.startSend(UnsafeBufferPointer(start: model.inputGradient(slot: slot), count: part.count * inputWidth),
                                                      to: stage - 1, tag: m))
        }
    }

    /// Accuracy on `data` (each replica's shard, through its stages in chunks of a
    /// micro-batch; counted by the last stages and summed over the job).
    public func evaluate(_ data: LabeledDataset) throws(CollectivesError) -> Double {
        let chunk = model.batchCapacity, width = inputWidth, outputs = outputWidth
        var correct = 0
        let predictions = UnsafeMutablePointer<Int32>.allocate(capacity: chunk)
        defer { predictions.deallocate() }
        var start = 0
        while start < data.count {
            let count = min(chunk, data.count - start)
            let input = model.input(slot: 0)
            if isFirst {
                data.features.withUnsafeBufferPointer { features in
                    input.update(from: features.baseAddress! + start * width, count: count * width)
                }
            } else {
                try pipeline.receive(into: UnsafeMutableBufferPointer(start: input, count: count * width), from: stage - 1)
            }
            if isLast {
                model.predict(input, count: count, into: predictions)
                for i in 0..<count where predictions[i] == data.labels[start + i] { correct += 1 }
            } else {
                let output = model.forward(input, count: count, slot: 0)
                try pipeline.send(UnsafeBufferPointer(start: output, count: count * outputs), to: stage + 1)
            }
            start += count
        }
        var totals: [Int64] = isLast ? [Int64(correct), Int64(data.count)] : [0, 0]
        try communicator.allReduce(&totals, op: .sum)
        return totals[1] > 0 ? Double(totals[0]) / Double(totals[1]) : 0
    }
}
