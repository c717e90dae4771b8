import DataParallel
import Testing

#if canImport(Glibc)
import Glibc
#endif

@Suite struct IDXFileTests {
    let directory: String = {
        let d = "/tmp/collectives-idx-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
        mkdir(d, 0o755)
        return d
    }()

    @Test(arguments: [false, true])
    func readsWholeFilesAndShards(gzip: Bool) throws {
        defer { SyntheticData.remove(directory) }
        let data = (0..<(7 * 3 * 2)).map { UInt8($0) }
        let path = "\(directory)/x\(gzip ? ".gz" : "")"
        SyntheticData.write(SyntheticData.idx(data, dimensions: [7, 3, 2]), to: path, gzip: gzip)
        let whole = try IDXFile(path: path)
        #expect(whole.dimensions == [7, 3, 2] && whole.itemSize == 6 && whole.bytes == data)
        let shard = try IDXFile(path: path, items: 2..<5)
        #expect(shard.firstItem == 2 && shard.bytes == Array(data[12..<30]))
        let none = try IDXFile(path: path, items: 0..<0)
        #expect(none.itemCount == 7 && none.bytes.isEmpty)
    }

    @Test(arguments: [false, true])
    func truncatedFilesAreNamed(gzip: Bool) {
        defer { SyntheticData.remove(directory) }
        let full = SyntheticData.idx([UInt8](repeating: 1, count: 100), dimensions: [10, 10])
        let path = "\(directory)/short\(gzip ? ".gz" : "")"
        SyntheticData.write(Array(full.dropLast(15)), to: path, gzip: gzip)
        let error = #expect(throws: IDXError.self) { _ = try IDXFile(path: path) }
        #expect(error?.description.contains(path) == true)
        #expect(error?.description.contains("truncated") == true, "\(String(describing: error))")
    }

    @Test func wrongMagicIsNamed() {
        defer { SyntheticData.remove(directory) }
        let path = "\(directory)/bad"
        SyntheticData.write([0x50, 0x4b, 3, 4, 0, 0, 0, 1, 9], to: path, gzip: false)
        let error = #expect(throws: IDXError.self) { _ = try IDXFile(path: path) }
        #expect(error?.description.contains("magic") == true, "\(String(describing: error))")
    }

    @Test func extraDataAndMissingFilesAreErrors() {
        defer { SyntheticData.remove(directory) }
        let path = "\(directory)/long"
        SyntheticData.write(SyntheticData.idx([1, 2, 3, 4, 5], dimensions: [4]), to: path, gzip: false)
        #expect(throws: IDXError.self) { _ = try IDXFile(path: path) }
        let missing = #expect(throws: IDXError.self) { _ = try IDXFile(path: "\(directory)/nothing") }
        #expect(missing?.description.contains("nothing") == true)
    }

    @Test func datasetShardsCoverEveryExampleOnce() throws {
        let directory = SyntheticData.directory(train: 103, test: 10, gzip: true)
        defer { SyntheticData.remove(directory) }
        var seen: [Int32] = []
        for rank in 0..<3 {
            let shard = try LabeledDataset.mnist(directory: directory, split: "train", rank: rank, worldSize: 3)
            #expect(shard.totalCount == 103 && shard.featureCount == 64)
            #expect(shard.features.allSatisfy { $0 >= 0 && $0 <= 1 })
            seen += shard.labels
        }
        let whole = try LabeledDataset.mnist(directory: directory, split: "train", rank: 0, worldSize: 1)
        #expect(seen == whole.labels)
    }
}
