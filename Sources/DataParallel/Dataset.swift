import CollectivesSystem
/// Labelled examples held by one rank: its shard of a data set, features scaled to [0, 1].
public struct LabeledDataset: Sendable {
    /// `count × featureCount` values, row by row.
    public var features: [Float]
    public var labels: [Int32]
    /// Values per example (784 for 28×28 images), from the file's header.
    public let featureCount: Int
    /// The index in the whole data set of this shard's first example.
    public let firstIndex: Int
    /// Examples in the whole data set (all shards).
    public let totalCount: Int

    /// Examples in this shard.
    public var count: Int { labels.count }
    /// Indices in the whole data set held here.
    public var indices: Range<Int> { firstIndex..<(firstIndex + count) }

    public init(features: [Float], labels: [Int32], featureCount: Int, firstIndex: Int = 0, totalCount: Int? = nil) {
        precondition(features.count == labels.count * featureCount)
        self.features = features
        self.labels = labels
        self.featureCount = featureCount
        self.firstIndex = firstIndex
        self.totalCount = totalCount ?? labels.count
    }

    /// The shard of `total` examples that `rank` of `worldSize` holds: contiguous, sizes
    /// differing by at most one.
    package static func shard(of total: Int, rank: Int, worldSize: Int) -> Range<Int> {
        let base = total / worldSize, extra = total % worldSize
        let start = rank * base + min(rank, extra)
        return start..<(start + base + (rank < extra ? 1 : 0))
    }

    /// Reads one split of an MNIST-format directory (`train` or `t10k`): the files
    /// `<split>-images-idx3-ubyte[.gz]` and `<split>-labels-idx1-ubyte[.gz]`. Only the items of
    /// this rank's shard are kept.
    package static func mnist(directory: String, split: String, rank: Int, worldSize: Int) throws(IDXError) -> LabeledDataset {
        let images = try locate(directory, "\(split)-images-idx3-ubyte")
        let labels = try locate(directory, "\(split)-labels-idx1-ubyte")
        let header = try IDXFile(path: images, items: 0..<0)
        let total = header.itemCount
        let range = shard(of: total, rank: rank, worldSize: worldSize)
        let imageFile = try IDXFile(path: images, items: range)
        let labelFile = try IDXFile(path: labels, items: range)
        guard labelFile.itemCount == total, labelFile.itemSize == 1 else {
            throw IDXError(path: labels, problem: "holds \(labelFile.itemCount) labels of \(labelFile.itemSize) bytes; \(images) holds \(total) images")
        }
        var features = [Float](repeating: 0, count: imageFile.bytes.count)
        let scale: Float = 1 / 255
        for i in features.indices { features[i] = Float(imageFile.bytes[i]) * scale }
        return LabeledDataset(features: features, labels: labelFile.bytes.map { Int32($0) },
                              featureCount: imageFile.itemSize, firstIndex: range.lowerBound, totalCount: total)
    }

    private static func locate(_ directory: String, _ name: String) throws(IDXError) -> String {
        for candidate in ["\(directory)/\(name).gz", "\(directory)/\(name)"] where fileExists(candidate) {
            return candidate
        }
        throw IDXError(path: "\(directory)/\(name)[.gz]", problem: "not found")
    }
}


func fileExists(_ path: String) -> Bool { FileSystem.isReadable(path) }
