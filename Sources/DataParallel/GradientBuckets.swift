/// Groups a model's layers into buckets of gradients that are all-reduced together, in the
/// manner of PyTorch's DistributedDataParallel.
///
/// Layers are taken in the order backward finishes them (last layer first). A bucket closes
/// once it holds at least its cap: the first bucket has a small cap so that communication
/// starts early in backward; the others a larger one, so that messages stay large. Because the
/// model stores gradients last layer first, every bucket is one contiguous range.
package struct GradientBuckets: Sendable, Hashable {
    package struct Bucket: Sendable, Hashable {
        /// Layers in the bucket, in the order backward finishes them.
        package let layers: [Int]
        /// The bucket's range in the flat gradient buffer.
        package let range: Range<Int>
    }

    package let buckets: [Bucket]
    /// For each layer, the bucket that holds it.
    package let bucketOfLayer: [Int]

    /// Buckets for layers with `parameterCounts` (by layer index), whose gradients start at
    /// `offsets` in the flat buffer.
    package init(parameterCounts: [Int], offsets: [Int], firstBucketBytes: Int, bucketCapBytes: Int) {
        var buckets: [Bucket] = []
        var bucketOfLayer = [Int](repeating: 0, count: parameterCounts.count)
        var layers: [Int] = []
        var elements = 0
        var start = 0
        func close() {
            guard !layers.isEmpty else { return }
            buckets.append(Bucket(layers: layers, range: start..<(start + elements)))
            start += elements
            layers = []
            elements = 0
        }
        for layer in stride(from: parameterCounts.count - 1, through: 0, by: -1) {
            precondition(offsets[layer] == start + elements, "gradients must be laid out last layer first")
            layers.append(layer)
            elements += parameterCounts[layer]
            bucketOfLayer[layer] = buckets.count
            let cap = buckets.isEmpty ? firstBucketBytes : bucketCapBytes
            if elements * MemoryLayout<Float>.size >= cap { close() }
        }
        close()
        self.buckets = buckets
        self.bucketOfLayer = bucketOfLayer
    }
}
