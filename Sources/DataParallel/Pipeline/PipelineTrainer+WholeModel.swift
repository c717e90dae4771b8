import Collectives
import CollectivesSystem

/// What concerns the whole model: checksums, checkpoints, timelines, recovery after a loss.
extension PipelineTrainer {
    /// A checksum of this stage's parameters, and whether every replica of every stage holds
    /// the same parameters as the others of its stage.
    public func parameterChecksum() throws(CollectivesError) -> (checksum: UInt64, identicalOnAllRanks: Bool) {
        let hash = ParameterChecksum.fnv1a(model.parameters)
        var identical: [Int32] = [try ParameterChecksum.identical(hash, on: replicaGroup) ? 1 : 0]
        try communicator.allReduce(&identical, op: .min)
        return (hash, identical[0] == 1)
    }

    /// The whole model's parameters on rank 0 (replica 0's stages gathered), `[]` elsewhere.
    public func gatherParameters() throws(CollectivesError) -> [Float] {
        try gatherWhole(model.parameters)
    }

    private func gatherWhole(_ values: UnsafeMutableBufferPointer<Float>) throws(CollectivesError) -> [Float] {
        guard replica == 0 else { return [] }
        // The whole model's layout puts the last layers first: the last stage's block leads.
        let blocks = try pipeline.gatherVariable(Array(values), root: 0)
        return stage == 0 ? blocks.reversed().flatMap { $0 } : []
    }

    /// Writes a ``Checkpoint`` of the whole model (the stages' parameters and velocities put
    /// together on rank 0): the same file data-parallel training writes, so either can resume
    /// from the other's.
    public func saveCheckpoint(to directory: String, epochsCompleted: Int) throws {
        let parameters = try gatherWhole(model.parameters)
        let velocity = try gatherWhole(state.velocity)
        let contents = communicator.rank == 0
            ? Checkpoint(epochsCompleted: epochsCompleted, parameters: parameters, velocity: velocity) : nil
        try Checkpoint.save(contents, to: directory, on: communicator)
    }

    /// Restores this stage's part of a whole model's checkpoint (read by rank 0, broadcast).
    public func restoreCheckpoint(from directory: String) throws -> Int? {
        guard let loaded = try Checkpoint.load(from: directory, parameterCount: totalParameterCount, on: communicator) else { return nil }
        load(loaded)
        return loaded.epochsCompleted
    }

    /// Every rank's timeline, on rank 0: per micro-batch forward and backward passes, waits for
    /// the neighbouring stages, the all-reduce of each bucket.
    public func gatherTimeline() throws(CollectivesError) -> [[Timeline.Span]] {
        var bucketCount = [Int64(buckets.buckets.count)]
        try communicator.allReduce(&bucketCount, op: .max)
        var names = ["receive activations", "receive gradients", "wait for communication", "wait for sends", "optimizer"]
        names += (0..<microBatches).flatMap { ["forward micro-batch \($0)", "backward micro-batch \($0)"] }
        names += (0..<Int(bucketCount[0])).map { "all-reduce bucket \($0)" }
        return try timeline.gathered(names: names, on: communicator)
    }

    /// Aborts the stage's sub-communicators (``pipeline``, ``replicaGroup``), so that ranks
    /// waiting on this one there fail at once instead of at their timeout: call it when this
    /// rank gives up on the step (a rank was lost) before `Communicator.shrink`, which aborts
    /// only the job's communicator.
    public func abort() {
        pipeline.abort()
        replicaGroup.abort()
    }

    /// Replaces this stage's parameters and optimizer state with its part of a whole model's
    /// (a ``Checkpoint`` read, or put together after ranks were lost).
    public func load(_ whole: Checkpoint) {
        precondition(whole.parameters.count == totalParameterCount && whole.velocity.count == totalParameterCount)
        _ = model.parameters.update(fromContentsOf: whole.parameters[parameterRange])
        _ = state.velocity.update(fromContentsOf: whole.velocity[parameterRange])
    }

    /// Keeps a copy of this stage's parameters and optimizer state, every stage's from the same
    /// moment (call it on every rank between epochs): what ``recoverWholeModel(on:epochsCompleted:)``
    /// puts together if ranks are lost later.
    package func markEpochBoundary() {
        snapshot = (Array(model.parameters), Array(state.velocity))
    }

    /// After ranks were lost (`Communicator.shrink`), puts the whole model back together on
    /// every rank of `communicator` (the survivors, each still holding this trainer's stage)
    /// from the stages' states at the last ``markEpochBoundary()``: each stage from the first
    /// survivor that held it. `nil` on every rank when a stage has no survivor (every replica
    /// of it was lost): then only a checkpoint can bring it back.
    package func recoverWholeModel(on communicator: Communicator, epochsCompleted: Int) throws(CollectivesError) -> Checkpoint? {
        let stages = try communicator.allGather([Int64(stage)])
        let holders = (0..<stageCount).map { s in stages.firstIndex(of: Int64(s)) }
        guard holders.allSatisfy({ $0 != nil }) else { return nil }
        let kept = snapshot!
        let ranges = Self.parameterRanges(layerSizes: layerSizes, stages: stageCount)
        var parameters = [Float](repeating: 0, count: totalParameterCount)
        var velocity = [Float](repeating: 0, count: totalParameterCount)
        for (s, holder) in holders.enumerated() {
            var block = holder == communicator.rank ? kept.parameters + kept.velocity : [Float](repeating: 0, count: 2 * ranges[s].count)
            try communicator.broadcast(&block, root: holder!)
            parameters.replaceSubrange(ranges[s], with: block[..<ranges[s].count])
            velocity.replaceSubrange(ranges[s], with: block[ranges[s].count...])
        }
        return Checkpoint(epochsCompleted: epochsCompleted, parameters: parameters, velocity: velocity)
    }

    /// Where each stage's parameters lie in the whole model's flat buffer.
    static func parameterRanges(layerSizes: [Int], stages: Int) -> [Range<Int>] {
        let offsets = MLP.layout(layerSizes: layerSizes).offsets
        return partition(layerSizes: layerSizes, stages: stages).map { layers in
            let first = layers.lowerBound
            return offsets[layers.upperBound - 1]..<(offsets[first] + layerSizes[first + 1] * layerSizes[first] + layerSizes[first + 1])
        }
    }

    /// What each rank of the job does, for the timeline's process names.
    package var rankLabels: [String] {
        (0..<communicator.worldSize).map { rank in
            let (stage, replica) = Self.position(rank: rank, stages: stageCount)
            return "rank \(rank): stage \(stage), replica \(replica)"
        }
    }
}
