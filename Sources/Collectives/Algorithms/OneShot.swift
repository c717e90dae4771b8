import CollectivesSystem
import CollectivesTransport

/// One-shot all-reduce on a ``MessageBoard``, for small messages among the ranks of one host:
/// every rank posts its whole buffer once, then reads every post in place and combines them in
/// rank order. One step, no request bookkeeping, no intermediate copy on the way in.
///
/// Every rank combines the same values in the same order (rank 0's, then rank 1's, ...), so
/// every rank ends with the same bits, for any operation.
enum OneShot {
    /// `source`: for out of place, the send buffer (only read); `nil` for in place.
    static func run(
        buffer: UnsafeMutableRawPointer?, source: UnsafeRawPointer?, count: Int, elementSize: Int, kernel: ReductionKernel,
        board: any MessageBoard, exchange: Exchange
    ) throws(TransportError) {
        let n = exchange.worldSize
        guard count > 0, let base = buffer else { return }
        let bytes = count * elementSize
        let mine = source ?? UnsafeRawPointer(base)
        try board.publish(UnsafeRawBufferPointer(start: mine, count: bytes), tag: exchange.tag, deadline: exchange.deadline)
        if exchange.rank != 0 {
            base.copyMemory(from: try board.read(from: 0, tag: exchange.tag, bytes: bytes, deadline: exchange.deadline), byteCount: bytes)
        } else if let source {
            base.copyMemory(from: source, byteCount: bytes)
        }
        // This rank's own values are read back from its post: in place, the buffer now holds
        // rank 0's.
        for peer in 1..<n {
            let post = try board.read(from: peer, tag: exchange.tag, bytes: bytes, deadline: exchange.deadline)
            kernel.combine(base, post, count)
        }
        board.finishRound()
        kernel.finish?(base, count, n)
    }
}
