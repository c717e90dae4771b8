import CollectivesSystem
import CollectivesTransport

/// Recursive-doubling all-reduce, for small messages where the number of message latencies is
/// what counts: ⌈log2 n⌉ rounds in which each rank swaps its whole buffer with the rank whose
/// number differs in one bit, and combines.
///
/// When *n* is not a power of two, with *p* the largest power of two below it and *e* = *n* − *p*,
/// the first 2*e* ranks pair up first: each even one sends its buffer to the odd one above it and
/// sits out, and gets the result back at the end (two more latencies).
///
/// Both partners of a round combine the same two values, in opposite order; sum, product, min and
/// max are commutative in IEEE arithmetic, so every rank ends with the same bits.
enum RecursiveDoubling {
    static func run(
        buffer: UnsafeMutableRawPointer?, count: Int, elementSize: Int, kernel: ReductionKernel, exchange: Exchange
    ) throws(TransportError) {
        let n = exchange.worldSize, rank = exchange.rank
        guard n > 1, count > 0, let base = buffer else { return }
        let bytes = count * elementSize
        var power = 1
        while power * 2 <= n { power *= 2 }
        let extra = n - power
        let scratch = exchange.workspace.scratch(atLeast: bytes)

        // Fold the extra ranks in.
        let folded: Int?
        if rank < 2 * extra {
            if rank % 2 == 0 {
                try exchange.send(base, bytes: bytes, to: rank + 1)
                try exchange.receive(base, bytes: bytes, from: rank + 1)
                return
            }
            try exchange.receive(scratch, bytes: bytes, from: rank - 1)
            kernel.combine(base, scratch, count)
            folded = rank / 2
        } else {
            folded = rank - extra
        }
        guard let me = folded else { return }

        var mask = 1
        while mask < power {
            let partnerIndex = me ^ mask
            let partner = partnerIndex < extra ? 2 * partnerIndex + 1 : partnerIndex + extra
            try exchange.exchange(send: base, receive: scratch, bytes: bytes, with: partner)
            kernel.combine(base, scratch, count)
            mask <<= 1
        }
        kernel.finish?(base, count, n)

        if rank < 2 * extra {
            try exchange.send(base, bytes: bytes, to: rank - 1)
        }
    }
}
