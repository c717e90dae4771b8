import CollectivesTransport

/// Memory an algorithm reuses from call to call: scratch space for incoming segments and the
/// arrays of request handles, so that a collective allocates nothing once warmed up.
///
/// Owned by a communicator and used by one operation at a time.
final class Workspace: @unchecked Sendable {
    private(set) var scratch: UnsafeMutableRawPointer
    private(set) var scratchBytes: Int
    var sends: [TransportRequest] = []
    var receives: [TransportRequest] = []

    init(scratchBytes: Int) {
        self.scratchBytes = Swift.max(scratchBytes, 64)
        scratch = .allocate(byteCount: self.scratchBytes, alignment: 64)
        sends.reserveCapacity(256)
        receives.reserveCapacity(16)
    }

    deinit { scratch.deallocate() }

    /// Scratch memory of at least `bytes`, grown (once) if needed.
    func scratch(atLeast bytes: Int) -> UnsafeMutableRawPointer {
        if bytes > scratchBytes {
            scratch.deallocate()
            scratchBytes = bytes
            scratch = .allocate(byteCount: bytes, alignment: 64)
        }
        return scratch
    }
}
