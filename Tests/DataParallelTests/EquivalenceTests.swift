import Collectives
import CollectivesSystem
import CollectivesTransport
import DataParallel
import Synchronization
import Testing

/// Training on n in-process ranks against training on one, on data whose size the world size
/// does not divide.
@Suite struct EquivalenceTests {
    static let steps = 50

    /// Trains `steps` steps on `worldSize` ranks and returns rank 0's parameters (and whether
    /// every rank ended with the same ones).
    static func train(worldSize: Int, exchange: GradientExchange = .allReduce, overlap: Bool = true,
                      steps: Int = steps, directory: String) throws -> (parameters: [Float], identical: Bool) {
        let transports = InProcessTransport.makeGroup(worldSize: worldSize)
        let results = Mutex<[Result<([Float], Bool), any Error>?]>(Array(repeating: nil, count: worldSize))
        let threads = (0..<worldSize).map { rank in
            SystemThread(name: "rank \(rank)") {
                let outcome = Result { () throws -> ([Float], Bool) in
                    let communicator = Communicator(transport: transports[rank])
                    defer { communicator.close() }
                    let data = try LabeledDataset.mnist(directory: directory, split: "train", rank: rank, worldSize: worldSize)
                    var options = TrainingOptions()
                    options.globalBatchSize = 16
                    options.exchange = exchange
                    options.overlap = overlap
                    options.firstBucketBytes = 256  // several buckets even for this small model
                    options.bucketCapBytes = 1024
                    // One algorithm for every run: `auto` measures its constants per
                    // communicator, and two runs could otherwise add in different orders.
                    options.algorithm = .ring
                    let model = MLP(layerSizes: [data.featureCount, 12, 8, 4], batchCapacity: 16, seed: 5)
                    let trainer = try DataParallelTrainer(model: model, communicator: communicator, options: options)
                    var done = 0, epoch = 0
                    while done < steps {
                        epoch += 1
                        let report = try trainer.trainEpoch(data, epoch: epoch, steps: min(steps - done, trainer.stepsPerEpoch(totalExamples: data.totalCount)))
                        done += (report.examples + 15) / 16
                    }
                    let (_, identical) = try trainer.parameterChecksum()
                    return (Array(model.parameters), identical)
                }
                results.withLock { $0[rank] = outcome }
            }
        }
        threads.forEach { $0.join() }
        let first = try results.withLock { try $0[0]!.get() }
        for rank in 1..<worldSize { _ = try results.withLock { try $0[rank]!.get() } }
        return first
    }

    static func largestDifference(_ a: [Float], _ b: [Float]) -> Float {
        zip(a, b).map { abs($0 - $1) }.max() ?? 0
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
        let difference = Self.largestDifference(single.parameters, parallel.parameters)
        #expect(difference < 1e-4, "largest parameter difference \(difference)")
        // Training moved the parameters: the comparison is not of two untouched models.
        let initial = MLP(layerSizes: [64, 12, 8, 4], batchCapacity: 1, seed: 5)
        #expect(Self.largestDifference(single.parameters, Array(initial.parameters)) > 1e-2)
    }

    @Test func centralServerAndNoOverlapGiveTheSameParameters() throws {
        let directory = SyntheticData.directory(train: 103, test: 10)
        defer { SyntheticData.remove(directory) }
        let ring = try Self.train(worldSize: 3, steps: 20, directory: directory)
        let central = try Self.train(worldSize: 3, exchange: .centralServer, steps: 20, directory: directory)
        let sequential = try Self.train(worldSize: 3, overlap: false, steps: 20, directory: directory)
        #expect(central.identical && sequential.identical)
        #expect(Self.largestDifference(ring.parameters, central.parameters) < 1e-4)
        #expect(ring.parameters == sequential.parameters)
    }
}
