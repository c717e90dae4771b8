import Collectives
import CollectivesTransport
import DataParallel
import Testing

/// The trainer works on any `TrainableModel`: a model of the test's own (which hands every call
/// to an MLP and records the layers backward announces) trains to the same bits as the MLP
/// alone, and its buckets are started as backward finishes each layer, last layer first.
@Suite struct TrainableModelTests {
    final class Recording: TrainableModel {
        let inner: MLP
        var announced: [Int] = []
        init(_ inner: MLP) { self.inner = inner }
        var parameters: UnsafeMutableBufferPointer<Float> { inner.parameters }
        var gradients: UnsafeMutableBufferPointer<Float> { inner.gradients }
        var offsets: [Int] { inner.offsets }
        var layerCount: Int { inner.layerCount }
        func parameterCount(layer: Int) -> Int { inner.parameterCount(layer: layer) }
        var inputWidth: Int { inner.layerSizes[0] }
        func forward(_ features: UnsafePointer<Float>, count: Int) -> UnsafeMutablePointer<Float> { inner.forward(features, count: count) }
        func loss(labels: UnsafePointer<Int32>) -> (loss: Double, correct: Int) { inner.loss(labels: labels) }
        func backward(accumulating: Bool, layerDone: (Int) -> Void) {
            inner.backward(accumulating: accumulating) { layer in
                announced.append(layer)
                layerDone(layer)
            }
        }
        func predict(_ features: UnsafePointer<Float>, count: Int, into output: UnsafeMutablePointer<Int32>) {
            inner.predict(features, count: count, into: output)
        }
    }

    @Test func aModelOfYourOwnTrainsToTheSameBits() throws {
        let directory = SyntheticData.directory(train: 203, test: 20)
        defer { SyntheticData.remove(directory) }
        let data = try LabeledDataset.mnist(directory: directory, split: "train", rank: 0, worldSize: 1)
        var options = TrainingOptions()
        options.globalBatchSize = 16
        options.firstBucketBytes = 256
        options.bucketCapBytes = 1024
        func train(_ model: any TrainableModel) throws -> [Float] {
            let communicator = Communicator(transport: SingleRankTransport())
            defer { communicator.close() }
            let trainer = try DataParallelTrainer(model: model, communicator: communicator, options: options)
            _ = try trainer.trainEpoch(data, epoch: 1)
            _ = try trainer.trainEpoch(data, epoch: 2)
            return Array(model.parameters)
        }
        let plain = try train(MLP(layerSizes: [data.featureCount, 12, 8, 4], batchCapacity: 16, seed: 5))
        let recording = Recording(MLP(layerSizes: [data.featureCount, 12, 8, 4], batchCapacity: 16, seed: 5))
        let wrapped = try train(recording)
        #expect(plain.map(\.bitPattern) == wrapped.map(\.bitPattern))
        let steps = 2 * ((203 + 15) / 16)
        #expect(recording.announced == Array(repeating: [2, 1, 0], count: steps).flatMap { $0 }, "\(recording.announced.prefix(9))")
    }
}
