import CollectivesSystem
import CZlib
import DataParallel

#if canImport(Glibc)
import Glibc
#endif

/// A small learnable data set: `side × side` images where class *c* lights a block of pixels
/// chosen by *c*, plus noise.
enum SyntheticData {
    static func images(count: Int, side: Int, classes: Int, seed: UInt64) -> (pixels: [UInt8], labels: [UInt8]) {
        var generator = SeededGenerator(seed: seed)
        var pixels = [UInt8](repeating: 0, count: count * side * side)
        var labels = [UInt8](repeating: 0, count: count)
        for i in 0..<count {
            let label = Int.random(in: 0..<classes, using: &generator)
            labels[i] = UInt8(label)
            for p in 0..<(side * side) {
                let lit = (p / max(1, side * side / classes)) == label
                pixels[i * side * side + p] = lit ? UInt8.random(in: 150...255, using: &generator) : UInt8.random(in: 0...90, using: &generator)
            }
        }
        return (pixels, labels)
    }

    /// The bytes of an IDX file of unsigned bytes with `dimensions`.
    static func idx(_ data: [UInt8], dimensions: [Int]) -> [UInt8] {
        var bytes: [UInt8] = [0, 0, 0x08, UInt8(dimensions.count)]
        for d in dimensions { bytes += [UInt8(d >> 24 & 0xff), UInt8(d >> 16 & 0xff), UInt8(d >> 8 & 0xff), UInt8(d & 0xff)] }
        return bytes + data
    }

    static func write(_ bytes: [UInt8], to path: String, gzip: Bool) {
        if gzip {
            let file = gzopen(path, "wb")!
            _ = bytes.withUnsafeBytes { gzwrite(file, $0.baseAddress, UInt32($0.count)) }
            gzclose(file)
        } else {
            let file = fopen(path, "wb")!
            _ = bytes.withUnsafeBytes { fwrite($0.baseAddress, 1, $0.count, file) }
            fclose(file)
        }
    }

    /// A temporary MNIST-format directory with `train` and `t10k` splits.
    static func directory(train: Int, test: Int, side: Int = 8, classes: Int = 4, gzip: Bool = true) -> String {
        let directory = "/tmp/collectives-mnist-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
        mkdir(directory, 0o755)
        for (split, count, seed) in [("train", train, UInt64(1)), ("t10k", test, UInt64(2))] {
            let (pixels, labels) = images(count: count, side: side, classes: classes, seed: seed)
            let suffix = gzip ? ".gz" : ""
            write(idx(pixels, dimensions: [count, side, side]), to: "\(directory)/\(split)-images-idx3-ubyte\(suffix)", gzip: gzip)
            write(idx(labels, dimensions: [count]), to: "\(directory)/\(split)-labels-idx1-ubyte\(suffix)", gzip: gzip)
        }
        return directory
    }

    static func remove(_ directory: String) { _ = system("rm -rf '\(directory)'") }
}
