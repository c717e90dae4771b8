import CZlib

/// A file in the IDX format of MNIST and Fashion-MNIST, gzip-compressed or raw.
///
/// Header: two zero bytes, a type byte (0x08 = unsigned byte is the only one these data sets
/// use), the number of dimensions, then each dimension as a big-endian u32; the data follows.
package struct IDXFile: Sendable {
    /// The dimensions, outermost first: `[60000, 28, 28]` for training images.
    package let dimensions: [Int]
    /// The first items' bytes, `itemCount × itemSize` of them.
    package let bytes: [UInt8]
    /// The first item of the file held in ``bytes``.
    package let firstItem: Int

    /// Bytes per item (the product of all dimensions but the first).
    package var itemSize: Int { dimensions.dropFirst().reduce(1, *) }
    /// Items in the whole file.
    package var itemCount: Int { dimensions.first ?? 0 }

    /// Reads items `range` of the file at `path` (all of them by default), so that a rank reads
    /// only its shard into memory. A wrong or truncated file throws an ``IDXError`` naming the
    /// file and what is wrong.
    package init(path: String, items range: Range<Int>? = nil) throws(IDXError) {
        guard let file = gzopen(path, "rb") else {
            throw IDXError(path: path, problem: "cannot open it (missing or unreadable)")
        }
        defer { gzclose(file) }
        _ = gzbuffer(file, 1 << 20)

        func read(_ count: Int, into pointer: UnsafeMutableRawPointer, what: String) throws(IDXError) {
            var done = 0
            while done < count {
                let n = gzread(file, pointer + done, UInt32(min(count - done, 1 << 30)))
                if n < 0 { throw IDXError(path: path, problem: "cannot decompress it (corrupt gzip data) while reading \(what)") }
                if n == 0 { throw IDXError(path: path, problem: "it is truncated: \(what) ends after \(done) of \(count) bytes") }
                done += Int(n)
            }
        }

        func readBytes(_ count: Int, what: String) throws(IDXError) -> [UInt8] {
            let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: max(count, 1), alignment: 16)
            defer { buffer.deallocate() }
            try read(count, into: buffer.baseAddress!, what: what)
            return Array(buffer.prefix(count))
        }

        let magic = try readBytes(4, what: "the header")
        guard magic[0] == 0, magic[1] == 0 else {
            throw IDXError(path: path, problem: "wrong magic number \(magic.prefix(2).map { String($0, radix: 16) }): not an IDX file")
        }
        guard magic[2] == 0x08 else {
            throw IDXError(path: path, problem: "element type 0x\(String(magic[2], radix: 16)) is not unsigned bytes (0x08)")
        }
        let rank = Int(magic[3])
        guard rank >= 1, rank <= 4 else { throw IDXError(path: path, problem: "\(rank) dimensions: expected 1 to 4") }
        let header = try readBytes(4 * rank, what: "the dimensions")
        var dimensions: [Int] = []
        for d in 0..<rank {
            let value = header[4 * d..<4 * d + 4].reduce(0) { $0 << 8 | Int($1) }
            guard value > 0, value < 1 << 28 else { throw IDXError(path: path, problem: "dimension \(d) is \(value)") }
            dimensions.append(value)
        }
        self.dimensions = dimensions
        let itemSize = dimensions.dropFirst().reduce(1, *)
        let wanted = range ?? 0..<dimensions[0]
        guard wanted.lowerBound >= 0, wanted.upperBound <= dimensions[0] else {
            throw IDXError(path: path, problem: "items \(wanted) requested, the file holds \(dimensions[0])")
        }
        firstItem = wanted.lowerBound
        // Skip the items before the shard, then read the shard.
        var toSkip = wanted.lowerBound * itemSize
        while toSkip > 0 {
            let step = min(toSkip, 1 << 20)
            _ = try readBytes(step, what: "the items before the shard")
            toSkip -= step
        }
        self.bytes = try readBytes(wanted.count * itemSize, what: "the items")
        // A file with more data than its header says is as wrong as one with less.
        if wanted.upperBound == dimensions[0] {
            var extra: UInt8 = 0
            if gzread(file, &extra, 1) > 0 {
                throw IDXError(path: path, problem: "it has data after the \(dimensions[0]) items its header announces")
            }
        }
    }
}

/// A data file that cannot be used, and why.
package struct IDXError: Error, Sendable, CustomStringConvertible {
    package let path: String
    package let problem: String
    package var description: String { "\(path): \(problem)" }
}
