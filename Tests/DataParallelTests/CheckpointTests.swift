import DataParallel
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// The checkpoint file: what is written reads back bit for bit; a damaged or truncated file is
/// refused naming the file and the cause; the write leaves no partial file behind.
@Suite struct CheckpointTests {
    func sample(_ count: Int) -> Checkpoint {
        Checkpoint(epochsCompleted: 7, parameters: (0..<count).map { Float($0) * 0.37 - 3 } + [.nan, -0.0, .infinity].prefix(count > 3 ? 3 : 0),
                   velocity: (0..<count).map { Float($0) * -1e-7 } + [1, 2, 3].prefix(count > 3 ? 3 : 0).map(Float.init))
    }

    @Test(arguments: [0, 1, 1001])
    func roundTripsBitForBit(count: Int) throws {
        let original = sample(count)
        let decoded = try Checkpoint(decoding: original.encoded(), path: "memory")
        #expect(decoded.epochsCompleted == 7)
        #expect(decoded.parameters.map(\.bitPattern) == original.parameters.map(\.bitPattern))
        #expect(decoded.velocity.map(\.bitPattern) == original.velocity.map(\.bitPattern))
    }

    /// The problem a decode of `bytes` reports, or nil when it decodes.
    func problem(decoding bytes: [UInt8], expectedParameters: Int? = nil) -> CheckpointError.Problem? {
        do {
            _ = try Checkpoint(decoding: bytes, path: "/ckpt/checkpoint.bin", expectedParameters: expectedParameters)
            return nil
        } catch {
            #expect(error.description.hasPrefix("checkpoint /ckpt/checkpoint.bin: "), "\(error)")
            return error.problem
        }
    }

    @Test func damageAndTruncationAreRefused() throws {
        var bytes = sample(100).encoded()
        bytes[40] ^= 0x10
        guard case .checksum = problem(decoding: bytes) else { Issue.record("a damaged checkpoint was not refused"); return }
        let truncated = Array(sample(100).encoded().dropLast(9))
        #expect(problem(decoding: truncated) == .size(bytes: truncated.count, parameterCount: 103))
        #expect(problem(decoding: sample(100).encoded() + [0]) == .size(bytes: 24 + 8 * 103 + 4 + 1, parameterCount: 103))
        #expect(problem(decoding: Array("not a checkpoint at all, no".utf8)) == .notACheckpoint)
        #expect(problem(decoding: Array(sample(3).encoded().prefix(20))) == .notACheckpoint)
        #expect(problem(decoding: sample(2).encoded(), expectedParameters: 3) == .parameterCount(inFile: 2, model: 3))
    }

    /// Sets a header field (epochs at 8, parameter count at 16) and a CRC that is right for it,
    /// as a crafted file would.
    func withField(_ value: UInt64, at offset: Int, in checkpoint: Checkpoint) -> [UInt8] {
        var bytes = checkpoint.encoded()
        withUnsafeBytes(of: value.littleEndian) { bytes.replaceSubrange(offset..<offset + 8, with: $0) }
        let crc = bytes.withUnsafeBytes { Checkpoint.crc(UnsafeRawBufferPointer(rebasing: $0.dropLast(4))) }
        withUnsafeBytes(of: crc.littleEndian) { bytes.replaceSubrange(bytes.count - 4..<bytes.count, with: $0) }
        return bytes
    }

    /// Crafted headers with valid CRCs: an epoch count of UInt64.max (resuming added 1 to it and
    /// trapped on every rank) and parameter counts whose sizes overflow are refused, naming the
    /// field.
    @Test func craftedHeadersAreRefusedWithoutATrap() {
        let base = sample(3)
        #expect(problem(decoding: withField(.max, at: 8, in: base)) == .epochsOutOfRange(.max))
        #expect(problem(decoding: withField(UInt64(Checkpoint.largestEpochCount) + 1, at: 8, in: base))
                == .epochsOutOfRange(UInt64(Checkpoint.largestEpochCount) + 1))
        #expect(problem(decoding: withField(UInt64(Checkpoint.largestEpochCount), at: 8, in: base)) == nil)
        for count: UInt64 in [.max, UInt64(Int.max), UInt64(Int.max) / 8 + 1, 4, 2] {
            #expect(problem(decoding: withField(count, at: 16, in: base)) == .size(bytes: 24 + 24 + 4, parameterCount: count),
                    "parameter count \(count)")
        }
    }

    /// A file whose header does not match the model, or whose size does not match its header,
    /// is refused from its first bytes: here a header claiming 2^40 parameters on a file of a
    /// few bytes, and one of another model's size.
    @Test func sizesAreCheckedBeforeReading() throws {
        let directory = "/tmp/collectives-checkpoint-size-\(getpid())"
        defer {
            unlink(Checkpoint.path(in: directory))
            rmdir(directory)
        }
        try sample(3).write(to: directory)
        #expect(throws: CheckpointError(path: Checkpoint.path(in: directory), problem: .parameterCount(inFile: 3, model: 12))) {
            try Checkpoint.read(from: directory, expectedParameters: 12)
        }
        let crafted = withField(1 << 40, at: 16, in: sample(10))
        let fd = open(Checkpoint.path(in: directory), O_WRONLY | O_TRUNC)
        #expect(crafted.withUnsafeBytes { write(fd, $0.baseAddress, $0.count) } == crafted.count)
        close(fd)
        #expect(throws: CheckpointError(path: Checkpoint.path(in: directory), problem: .size(bytes: crafted.count, parameterCount: 1 << 40))) {
            try Checkpoint.read(from: directory)
        }
        #expect(throws: CheckpointError(path: Checkpoint.path(in: directory), problem: .parameterCount(inFile: 1 << 40, model: 10))) {
            try Checkpoint.read(from: directory, expectedParameters: 10)
        }
    }

    /// CRC-32 over more than 4 GiB (zlib takes a 32-bit length: the old code trapped converting
    /// it). The buffer is an untouched anonymous mapping (zero pages, no memory used); the
    /// reference value is zlib's CRC-32 of 2^32 + 3 zero bytes, computed by Python's zlib in
    /// 64 MiB pieces.
    @Test func crcOfMoreThanFourGiB() throws {
        let length = (1 << 32) + 3
        let mapping = mmap(nil, length, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0)
        try #require(mapping != MAP_FAILED)
        defer { munmap(mapping, length) }
        #expect(Checkpoint.crc(UnsafeRawBufferPointer(start: mapping, count: length)) == 0x2144_df1c)
        #expect(Checkpoint.crc(UnsafeRawBufferPointer(start: nil, count: 0)) == 0)
    }

    @Test func writesAtomicallyAndReadsBack() throws {
        let directory = "/tmp/collectives-checkpoint-\(getpid())"
        defer {
            unlink(Checkpoint.path(in: directory))
            rmdir(directory)
        }
        #expect(try Checkpoint.read(from: directory) == nil)
        let first = sample(500)
        try first.write(to: directory)
        var second = sample(500)
        second.epochsCompleted = 8
        try second.write(to: directory)
        #expect(try Checkpoint.read(from: directory)?.epochsCompleted == 8)
        #expect(access(Checkpoint.path(in: directory) + ".partial", F_OK) != 0, "a partial file was left behind")
    }
}
