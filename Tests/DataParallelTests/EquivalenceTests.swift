import CollectivesTestSupport
import Collectives
import CollectivesSystem
import CollectivesTransport
import DataParallel
import Testing

/// Training on n in-process ranks against training on one, on data whose size the world size
/// does not divide.
@Suite struct EquivalenceTests {
    static let steps = 50

    /// Trains `steps` steps on `worldSize` ranks and returns rank 0's parameters (and whether
    /// every rank ended with the same ones).
    static func train(worldSize: Int, exchange: GradientExchange = .allReduce, overlap: Bool = true, accumulationSteps: Int = 1,
                      steps: Int = steps, directory: String) throws -> (parameters: [Float], identical: Bool) {
        let results = try runInProcess(worldSize: worldSize) { communicator -> ([Float], Bool) in
            let data = try LabeledDataset.mnist(directory: directory, split: "train", rank: communicator.rank, worldSize: worldSize)
            var options = TrainingOptions()
            options.globalBatchSize = 16
            options.exchange = exchange
            options.overlap = overlap
            options.accumulationSteps = accumulationSteps
            options.firstBucketBytes = 256  // several buckets even for this small model
            options.bucketCapBytes = 1024
            // One algorithm for every run: `auto` measures its constants per
            // communicator, and two runs could otherwise add in different orders.
            options.algorithm = .ring
            let model = MLP(layerSizes: [data.featureCount, 12, 8, 4], batchCapacity: 16, seed: 5)
            let trainer = try DataParallelTrainer(model: model, communicator: communicator, options: options)
            try train(trainer, data, steps: steps)
            let (_, identical) = try trainer.parameterChecksum()
            return (Array(model.parameters), identical)
        }
        return results[0]
    }

    /// Runs `steps` steps, as many epochs as it takes.
    static func train(_ trainer: any DistributedTrainer, _ data: LabeledDataset, steps: Int) throws {
        var done = 0, epoch = 0
        while done < steps {
            epoch += 1
            let perEpoch = trainer.stepsPerEpoch(totalExamples: data.totalCount)
            _ = try trainer.trainEpoch(data, epoch: epoch, steps: min(steps - done, perEpoch))
            done += min(steps - done, perEpoch)
        }
    }

    /// Each world size against one rank (a world of one would compare a run with itself).
    @Test(arguments: [2, 3, 4])
    func matchesSingleRankTraining(worldSize: Int) throws {
        let directory = SyntheticData.directory(train: 103, test: 10)
        defer { SyntheticData.remove(directory) }
        let single = try Self.train(worldSize: 1, directory: directory)
        let parallel = try Self.train(worldSize: worldSize, directory: directory)
        #expect(parallel.identical)
        // Float sums in another order: differences stay at rounding level after 50 steps.
        let difference = largestDifference(single.parameters, parallel.parameters)
        #expect(difference < 1e-4, "largest parameter difference \(difference)")
        // Training moved the parameters: the comparison is not of two untouched models.
        let initial = MLP(layerSizes: [64, 12, 8, 4], batchCapacity: 1, seed: 5)
        #expect(largestDifference(single.parameters, Array(initial.parameters)) > 1e-2)
    }

    @Test func centralServerAndNoOverlapGiveTheSameParameters() throws {
        let directory = SyntheticData.directory(train: 103, test: 10)
        defer { SyntheticData.remove(directory) }
        let ring = try Self.train(worldSize: 3, steps: 20, directory: directory)
        let central = try Self.train(worldSize: 3, exchange: .centralServer, steps: 20, directory: directory)
        let sequential = try Self.train(worldSize: 3, overlap: false, steps: 20, directory: directory)
        #expect(central.identical && sequential.identical)
        #expect(largestDifference(ring.parameters, central.parameters) < 1e-4)
        #expect(ring.parameters == sequential.parameters)
    }

    /// Gradient accumulation (micro-steps without synchronizing, then one all-reduce) gives the
    /// update of the whole batch at once, here with micro-steps that outnumber some ranks'
    /// examples of a batch (empty micro-steps).
    @Test(arguments: [2, 3, 7])
    func accumulatingGradientsMatchesOneStep(accumulationSteps: Int) throws {
        let directory = SyntheticData.directory(train: 103, test: 10)
        defer { SyntheticData.remove(directory) }
        let plain = try Self.train(worldSize: 3, steps: 20, directory: directory)
        let accumulated = try Self.train(worldSize: 3, accumulationSteps: accumulationSteps, steps: 20, directory: directory)
        #expect(accumulated.identical)
        let difference = largestDifference(plain.parameters, accumulated.parameters)
        #expect(difference < 1e-5, "largest parameter difference \(difference)")
    }
}
