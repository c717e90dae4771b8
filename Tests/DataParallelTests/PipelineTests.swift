import CollectivesTestSupport
import Collectives
import DataParallel
import Testing

/// Pipeline schedules and partitions, and pipeline (and hybrid pipeline × data) training
/// against plain data-parallel training on in-process ranks.
@Suite struct PipelineTests {
    typealias Step = PipelineSchedule.Step

    @Test func oneForwardOneBackwardWarmsUpByTheStagesAhead() {
        let schedule = PipelineSchedule.oneForwardOneBackward
        #expect(schedule.steps(stage: 0, stages: 3, microBatches: 4)
                == [.forward(0), .forward(1), .forward(2), .backward(0), .forward(3), .backward(1), .backward(2), .backward(3)])
        #expect(schedule.steps(stage: 1, stages: 3, microBatches: 4)
                == [.forward(0), .forward(1), .backward(0), .forward(2), .backward(1), .forward(3), .backward(2), .backward(3)])
        #expect(schedule.steps(stage: 2, stages: 3, microBatches: 4)
                == [.forward(0), .backward(0), .forward(1), .backward(1), .forward(2), .backward(2), .forward(3), .backward(3)])
        // Fewer micro-batches than stages ahead: all forwards, then all backwards.
        #expect(schedule.steps(stage: 0, stages: 4, microBatches: 2) == [.forward(0), .forward(1), .backward(0), .backward(1)])
        #expect(schedule.activationsInFlight(stage: 0, stages: 3, microBatches: 8) == 3)
        #expect(schedule.activationsInFlight(stage: 2, stages: 3, microBatches: 8) == 1)
        #expect(PipelineSchedule.gpipe.activationsInFlight(stage: 2, stages: 3, microBatches: 8) == 8)
    }

    /// Every schedule runs each micro-batch's forward once, before its backward, and the
    /// backwards in micro-batch order (the order the stages exchange gradients in).
    @Test(arguments: PipelineSchedule.allCases)
    func everyScheduleIsComplete(schedule: PipelineSchedule) {
        for stages in 1...5 {
            for microBatches in [0, 1, 2, 3, 7] {
                for stage in 0..<stages {
                    let steps = schedule.steps(stage: stage, stages: stages, microBatches: microBatches)
                    let forwards = steps.compactMap { if case .forward(let m) = $0 { m } else { nil } }
                    let backwards = steps.compactMap { if case .backward(let m) = $0 { m } else { nil } }
                    #expect(forwards == Array(0..<microBatches) && backwards == Array(0..<microBatches))
                    for m in 0..<microBatches {
                        #expect(steps.firstIndex(of: .forward(m))! < steps.firstIndex(of: .backward(m))!)
                    }
                }
            }
        }
    }

    @Test func partitionsBalanceTheHeaviestStage() {
        // 784-256-128-10: the first layer outweighs the others together.
        #expect(PipelineTrainer.partition(layerSizes: [784, 256, 128, 10], stages: 2) == [0..<1, 1..<3])
        #expect(PipelineTrainer.partition(layerSizes: [784, 256, 128, 10], stages: 3) == [0..<1, 1..<2, 2..<3])
        #expect(PipelinePartition.layers(costs: [1, 1, 1, 1], stages: 2) == [0..<2, 2..<4])
        #expect(PipelinePartition.layers(costs: [5, 1, 1, 1, 1, 1], stages: 2) == [0..<1, 1..<6])
        #expect(PipelinePartition.layers(costs: [3, 3, 2, 2, 2], stages: 3) == [0..<2, 2..<3, 3..<5]
                || PipelinePartition.layers(costs: [3, 3, 2, 2, 2], stages: 3) == [0..<1, 1..<3, 3..<5])
        #expect(PipelinePartition.layers(costs: [7], stages: 1) == [0..<1])
    }

    static let layerSizes = [64, 12, 10, 8, 4]

    /// Trains `steps` steps with `stages` stages on `worldSize` in-process ranks and returns the
    /// whole model's parameters (from rank 0) and whether each stage's replicas agree.
    static func trainPipeline(worldSize: Int, stages: Int, microBatches: Int, schedule: PipelineSchedule, overlap: Bool = true,
                              steps: Int, directory: String) throws -> (parameters: [Float], identical: Bool) {
        let results = try runInProcess(worldSize: worldSize) { communicator -> ([Float], Bool) in
            let replica = PipelineTrainer.position(rank: communicator.rank, stages: stages).replica
            let data = try LabeledDataset.mnist(directory: directory, split: "train", rank: replica, worldSize: worldSize / stages)
            var options = TrainingOptions()
            options.globalBatchSize = 16
            options.overlap = overlap
            options.firstBucketBytes = 256
            options.bucketCapBytes = 1024
            options.algorithm = .ring
            let trainer = try PipelineTrainer(layerSizes: layerSizes, seed: 5, communicator: communicator, stages: stages,
                                              microBatches: microBatches, schedule: schedule, options: options)
            try EquivalenceTests.train(trainer, data, steps: steps)
            let (_, identical) = try trainer.parameterChecksum()
            return (try trainer.gatherParameters(), identical)
        }
        return results[0]
    }

    static func trainDataParallel(worldSize: Int, steps: Int, directory: String) throws -> [Float] {
        try runInProcess(worldSize: worldSize) { communicator -> [Float] in
            let data = try LabeledDataset.mnist(directory: directory, split: "train", rank: communicator.rank, worldSize: worldSize)
            var options = TrainingOptions()
            options.globalBatchSize = 16
            options.algorithm = .ring
            let model = MLP(layerSizes: layerSizes, batchCapacity: 16, seed: 5)
            let trainer = try DataParallelTrainer(model: model, communicator: communicator, options: options)
            try EquivalenceTests.train(trainer, data, steps: steps)
            return Array(model.parameters)
        }[0]
    }

    /// Pipelines of 2–4 stages, alone or as replicas (hybrid), with both schedules and with
    /// more micro-batches than a replica has examples in a batch (empty micro-batches), end
    /// 40 steps within rounding of data-parallel training on 2 ranks: the same seed, the same
    /// global batches, the same mean gradient.
    @Test(arguments: [
        (4, 2, 4, PipelineSchedule.oneForwardOneBackward), (4, 2, 3, .gpipe), (3, 3, 4, .oneForwardOneBackward),
        (4, 4, 2, .oneForwardOneBackward), (6, 3, 12, .oneForwardOneBackward), (2, 2, 1, .gpipe),
    ])
    func matchesDataParallelTraining(worldSize: Int, stages: Int, microBatches: Int, schedule: PipelineSchedule) throws {
        let directory = SyntheticData.directory(train: 103, test: 10)
        defer { SyntheticData.remove(directory) }
        let reference = try Self.trainDataParallel(worldSize: 2, steps: 40, directory: directory)
        let pipelined = try Self.trainPipeline(worldSize: worldSize, stages: stages, microBatches: microBatches,
                                               schedule: schedule, steps: 40, directory: directory)
        #expect(pipelined.identical)
        #expect(pipelined.parameters.count == reference.count)
        // Float sums in another order (micro-batches, replicas): rounding-level differences.
        let difference = largestDifference(reference, pipelined.parameters)
        #expect(difference < 1e-5, "largest parameter difference \(difference)")
        let initial = MLP(layerSizes: Self.layerSizes, batchCapacity: 1, seed: 5)
        #expect(largestDifference(reference, Array(initial.parameters)) > 1e-2)
    }

    @Test func gradientsAfterBackwardMatchWithoutOverlap() throws {
        let directory = SyntheticData.directory(train: 103, test: 10)
        defer { SyntheticData.remove(directory) }
        let overlapped = try Self.trainPipeline(worldSize: 4, stages: 2, microBatches: 4, schedule: .oneForwardOneBackward,
                                                steps: 10, directory: directory)
        let after = try Self.trainPipeline(worldSize: 4, stages: 2, microBatches: 4, schedule: .oneForwardOneBackward,
                                           overlap: false, steps: 10, directory: directory)
        #expect(overlapped.parameters == after.parameters)
    }

    /// The whole model put together from the stages the survivors hold equals, bit for bit, the
    /// one gathered before; survivors that miss every replica of a stage get `nil`. Survivors
    /// are simulated by splitting off the ranks that stay.
    @Test func survivorsPutTheWholeModelBackTogether() throws {
        let directory = SyntheticData.directory(train: 103, test: 10)
        defer { SyntheticData.remove(directory) }
        let results = try runInProcess(worldSize: 4) { communicator -> (gathered: [Float], recovered: [Float]?, missing: Bool) in
            let replica = PipelineTrainer.position(rank: communicator.rank, stages: 2).replica
            let data = try LabeledDataset.mnist(directory: directory, split: "train", rank: replica, worldSize: 2)
            var options = TrainingOptions()
            options.globalBatchSize = 16
            let trainer = try PipelineTrainer(layerSizes: Self.layerSizes, seed: 5, communicator: communicator, stages: 2,
                                              microBatches: 3, options: options)
            try EquivalenceTests.train(trainer, data, steps: 7)
            trainer.markEpochBoundary()
            let gathered = try trainer.gatherParameters()
            // Another step after the boundary: the recovery must take the boundary's state.
            try EquivalenceTests.train(trainer, data, steps: 1)
            // Rank 2 (stage 0 of replica 1) lost: stage 0 survives in replica 0.
            let survivors = try communicator.split(color: communicator.rank == 2 ? nil : 0)
            let recovered = try survivors.flatMap { (survivors) throws(CollectivesError) -> Checkpoint? in
                defer { survivors.close() }
                return try trainer.recoverWholeModel(on: survivors, epochsCompleted: 1)
            }
            // Ranks 1 and 3 (stage 1 of both replicas) lost.
            let stageless = try communicator.split(color: communicator.rank % 2 == 1 ? nil : 0)
            let missing = try stageless.map { (stageless) throws(CollectivesError) -> Bool in
                defer { stageless.close() }
                return try trainer.recoverWholeModel(on: stageless, epochsCompleted: 1) == nil
            } ?? true
            return (gathered, recovered?.parameters, missing)
        }
        #expect(results[0].gathered.count == MLP(layerSizes: Self.layerSizes, batchCapacity: 1, seed: 5).parameterCount)
        for rank in [0, 1, 3] {
            #expect(results[rank].recovered.map { $0.map(\.bitPattern) } == results[0].gathered.map(\.bitPattern), "rank \(rank)")
        }
        #expect(results.allSatisfy { $0.missing })
    }

    /// Under 1F1B stage s of S keeps activations for S − s micro-batches, under GPipe for all M.
    @Test(arguments: [(PipelineSchedule.oneForwardOneBackward, [3, 2, 1]), (.gpipe, [5, 5, 5])])
    func aStageKeepsOnlyTheActivationsInFlight(schedule: PipelineSchedule, slots: [Int]) throws {
        let kept = try runInProcess(worldSize: 3) { communicator -> Int in
            let trainer = try PipelineTrainer(layerSizes: Self.layerSizes, seed: 5, communicator: communicator, stages: 3,
                                              microBatches: 5, schedule: schedule, options: TrainingOptions())
            return trainer.model.slots
        }
        #expect(kept == slots)
    }

    @Test func aLayoutThatDoesNotFitIsRefusedOnEveryRank() throws {
        for (worldSize, stages) in [(3, 2), (4, 8), (4, 4)] {
            let errors = try runInProcess(worldSize: worldSize) { communicator -> String in
                do {
                    _ = try PipelineTrainer(layerSizes: [8, 4, 2], seed: 1, communicator: communicator, stages: stages, microBatches: 2,
                                            options: TrainingOptions())
                    return "accepted"
                } catch {
                    return "\(error)"
                }
            }
            for error in errors {
                #expect(error.contains("pipeline set-up") && (error.contains("whole replicas") || error.contains("layers")), "\(error)")
            }
        }
    }
}
