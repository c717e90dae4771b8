import CollectivesTransport

/// Memory an algorithm reuses from call to call: scratch space for incoming segments, staging
/// space for partial results and copies, and the arrays of request handles, so that a collective
/// allocates nothing once warmed up.
///
/// Owned by a communicator and used by one operation at a time.
final class Workspace: @unchecked Sendable {
    private var scratchMemory = Region()
    private var stagingMemory = Region()
    var sends: [TransportRequest] = []
    var receives: [TransportRequest] = []

    init(scratchBytes: Int) {
        _ = scratchMemory.atLeast(scratchBytes)
        sends.reserveCapacity(256)
        receives.reserveCapacity(16)
    }

    deinit {
        scratchMemory.free()
        stagingMemory.free()
    }

    /// Scratch memory of at least `bytes` (where segments are received), grown if needed.
    func scratch(atLeast bytes: Int) -> UnsafeMutableRawPointer { scratchMemory.atLeast(bytes) }

    /// A second region of at least `bytes`, separate from ``scratch(atLeast:)``: running sums,
    /// copies of an input that must not change.
    func staging(atLeast bytes: Int) -> UnsafeMutableRawPointer { stagingMemory.atLeast(bytes) }

    private struct Region {
        var base: UnsafeMutableRawPointer?
        var bytes = 0

        mutating func atLeast(_ wanted: Int) -> UnsafeMutableRawPointer {
            if let base, wanted <= bytes { return base }
            base?.deallocate()
            bytes = Swift.max(wanted, 64)
            let memory = UnsafeMutableRawPointer.allocate(byteCount: bytes, alignment: 64)
            base = memory
            return memory
        }

        mutating func free() {
            base?.deallocate()
            base = nil
        }
    }
}
