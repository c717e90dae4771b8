import CollectivesSystem
import CollectivesTransport

/// Recursive-doubling all-reduce, for small messages where the number of message latencies is
/// what counts: ⌈log2 n⌉ rounds in which each rank swaps its whole buffer with the rank whose
/// number differs in one bit, and combines.
///
/// When *n* is not a power of two, the extra ranks fold in first and get the result back at the
/// end (``PowerOfTwoFold``: two more latencies).
///
/// Both partners of a round combine the same two values, in opposite order; sum, product, min and
/// max are commutative in IEEE arithmetic, so every rank ends with the same bits.
enum RecursiveDoubling {
    static func run(
        buffer: UnsafeMutableRawPointer?, count: Int, elementSize: Int, kernel: ReductionKernel, exchange: Exchange
    ) throws(TransportError) {
        guard case let (fold, base, bytes)? = PowerOfTwoFold.of(buffer, count: count, elementSize: elementSize, exchange: exchange) else {
            return
        }
        let scratch = exchange.workspace.scratch(atLeast: bytes)
        guard let me = try fold.foldIn(base, count: count, elementSize: elementSize, scratch: scratch, kernel: kernel,
                                       exchange: exchange) else { return }

        var mask = 1
        while mask < fold.power {
            try exchange.exchange(send: base, receive: scratch, bytes: bytes, with: fold.rank(ofIndex: me ^ mask))
            kernel.combine(base, scratch, count)
            mask <<= 1
        }
        kernel.finish?(base, count, exchange.worldSize)
        try fold.foldOut(base, bytes: bytes, exchange: exchange)
    }
}
