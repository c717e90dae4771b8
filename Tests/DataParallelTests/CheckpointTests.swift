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

    @Test func damageAndTruncationAreRefused() throws {
        var bytes = sample(100).encoded()
        bytes[40] ^= 0x10
        #expect(throws: CheckpointError.self) { try Checkpoint(decoding: bytes, path: "x") }
        do {
            _ = try Checkpoint(decoding: bytes, path: "/ckpt/checkpoint.bin")
        } catch {
            #expect(error.description.contains("/ckpt/checkpoint.bin") && error.description.contains("damaged"), "\(error)")
        }
        let truncated = Array(sample(100).encoded().dropLast(9))
        do {
            _ = try Checkpoint(decoding: truncated, path: "y")
            Issue.record("a truncated checkpoint was accepted")
        } catch {
            #expect(error.description.contains("truncated"), "\(error)")
        }
        #expect(throws: CheckpointError.self) { try Checkpoint(decoding: Array("not a checkpoint at all, no".utf8), path: "z") }
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
