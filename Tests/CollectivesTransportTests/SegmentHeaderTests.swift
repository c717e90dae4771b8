#if canImport(Glibc)
import Glibc
#endif
import CollectivesSystem
import CollectivesTransport
import Testing

/// A peer's shared-memory segment is input from another process: a header with absurd sizes
/// (a value past `Int.max`, or ring counts and capacities whose product overflows) fails the
/// set-up with an error naming the peer's segment, instead of trapping.
@Suite struct SegmentHeaderTests {
    /// Makes `/dev/shm/<name>` (sparse, `bytes` long) with a version-4 header claiming to be
    /// rank 1's, with `slots` rings of `capacity` bytes.
    static func craft(_ name: String, bytes: Int, slots: UInt32, capacity: UInt64) throws {
        let descriptor = shm_open(name, O_CREAT | O_EXCL | O_RDWR, 0o600)
        try #require(descriptor >= 0, "shm_open: errno \(errno)")
        defer { close(descriptor) }
        try #require(ftruncate(descriptor, off_t(bytes)) == 0, "ftruncate: errno \(errno)")
        var header = [UInt8](repeating: 0, count: 264)
        func put<T>(_ value: T, at offset: Int) { withUnsafeBytes(of: value) { header.replaceSubrange(offset..<(offset + $0.count), with: $0) } }
        put(UInt64(0x4D48_534C_4C4F_4353), at: 0)  // "SCOLLSHM"
        put(UInt32(4), at: 8)
        put(slots, at: 12)
        put(UInt32(1), at: 16)
        put(UInt32(getpid()), at: 20)
        put(capacity, at: 24)
        put(UInt64(32 << 10), at: 256)
        try #require(header.withUnsafeBytes { pwrite(descriptor, $0.baseAddress, $0.count, 0) } == header.count)
    }

    @Test(arguments: [
        ("a capacity past Int.max", 1 << 20, UInt32(2), UInt64(1) << 63 | 1),
        ("rings times capacity past Int.max", 1 << 41, UInt32.max, UInt64(1) << 40),
    ])
    func anAbsurdPeerHeaderFailsTheSetUpWithoutATrap(what: String, bytes: Int, slots: UInt32, capacity: UInt64) throws {
        let name = "/swift-collectives-\(getpid())-crafted-\(slots)"
        shm_unlink(name)
        try Self.craft(name, bytes: bytes, slots: slots, capacity: capacity)
        defer { shm_unlink(name) }
        var exchanges = 0
        let error = #expect(throws: TransportError.self, "\(what)") {
            let transport = try SharedMemoryTransport.establish(rank: 0, worldSize: 2, jobID: .random(in: 1...UInt64.max), allGather: { (mine) throws(TransportError) in
                exchanges += 1
                // First the segment names (rank 1's is the crafted one), then each rank's outcome.
                return exchanges == 1 ? [mine, Array(name.utf8)] : [mine, Array("+".utf8)]
            })
            transport.close()
        }
        // This rank reports its own failure to open rank 1's segment, naming it.
        let text = String(describing: error)
        #expect(text.contains("rank 1's segment") && text.contains("unexpected header"), "\(what): \(text)")
    }
}
