import CollectivesSystem
import DataParallel
import Testing

@Suite struct ModelTests {
    /// Backward's gradients against central differences of the loss, for every parameter.
    @Test func gradientsMatchNumericalDifferences() {
        let model = MLP(layerSizes: [5, 6, 4, 3], batchCapacity: 4, seed: 3)
        var generator = SeededGenerator(seed: 9)
        for i in 0..<model.parameterCount { model.parameters[i] += Float.random(in: -0.1...0.1, using: &generator) }
        let features = (0..<20).map { _ in Float.random(in: -1...1, using: &generator) }
        let labels: [Int32] = [0, 2, 1, 2]
        func loss() -> Double {
            _ = features.withUnsafeBufferPointer { model.forward($0.baseAddress!, count: 4) }
            return labels.withUnsafeBufferPointer { model.loss(labels: $0.baseAddress!).loss }
        }
        _ = loss()
        model.backward()
        let analytic = Array(model.gradients)
        var worst = 0.0
        for i in 0..<model.parameterCount {
            let saved = model.parameters[i]
            let h: Float = 1e-2
            model.parameters[i] = saved + h
            let up = loss()
            model.parameters[i] = saved - h
            let down = loss()
            model.parameters[i] = saved
            let numeric = (up - down) / Double(2 * h)
            worst = max(worst, abs(numeric - Double(analytic[i])) / max(1, abs(numeric)))
        }
        #expect(worst < 2e-2, "largest relative difference \(worst)")
    }

    @Test func bucketsAreContiguousAndTheFirstIsSmall() {
        let model = MLP(layerSizes: [784, 256, 128, 10], batchCapacity: 1, seed: 1)
        let counts = (0..<model.layerCount).map { model.parameterCount(layer: $0) }
        let buckets = GradientBuckets(parameterCounts: counts, offsets: model.offsets, firstBucketBytes: 64 << 10, bucketCapBytes: 1 << 20)
        #expect(buckets.buckets.map(\.layers) == [[2, 1], [0]])
        #expect(buckets.buckets[0].range.lowerBound == 0)
        #expect(buckets.buckets.last!.range.upperBound == model.parameterCount)
        for (a, b) in zip(buckets.buckets, buckets.buckets.dropFirst()) { #expect(a.range.upperBound == b.range.lowerBound) }
        let one = GradientBuckets(parameterCounts: counts, offsets: model.offsets, firstBucketBytes: 64 << 20, bucketCapBytes: 64 << 20)
        #expect(one.buckets.count == 1)
        let each = GradientBuckets(parameterCounts: counts, offsets: model.offsets, firstBucketBytes: 1, bucketCapBytes: 1)
        #expect(each.buckets.map(\.layers) == [[2], [1], [0]])
    }
}
