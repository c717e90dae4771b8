import CollectivesTransport

/// How recursive doubling and Rabenseifner's all-reduce bring a world whose size *n* is not a
/// power of two down to one: with *p* the largest power of two ≤ *n* and *e* = *n* − *p*, the
/// first 2*e* ranks pair up; each even one sends its buffer to the odd one above it, sits out,
/// and gets the result back at the end (two more latencies).
struct PowerOfTwoFold {
    /// *p*: the ranks that take part after the fold.
    let power: Int
    /// *e*: the ranks that sit out.
    let extra: Int

    init(worldSize n: Int) {
        var power = 1
        while power * 2 <= n { power *= 2 }
        self.power = power
        extra = n - power
    }

    /// The fold of an all-reduce of `count` elements in `buffer` over `exchange`'s ranks, with
    /// the buffer and its bytes; nil when there is nothing to exchange (one rank, no elements).
    static func of(_ buffer: UnsafeMutableRawPointer?, count: Int, elementSize: Int,
                   exchange: Exchange) -> (PowerOfTwoFold, UnsafeMutableRawPointer, Int)? {
        guard exchange.worldSize > 1, count > 0, let buffer else { return nil }
        return (PowerOfTwoFold(worldSize: exchange.worldSize), buffer, count * elementSize)
    }

    /// The rank whose index among the *p* taking part is `index`.
    func rank(ofIndex index: Int) -> Int { index < extra ? 2 * index + 1 : index + extra }

    /// Folds this rank in: its index among the *p* taking part, or `nil` for a rank that sat out
    /// (its buffer then already holds the result). `scratch` holds at least `count` elements.
    func foldIn(_ base: UnsafeMutableRawPointer, count: Int, elementSize: Int, scratch: UnsafeMutableRawPointer,
                kernel: ReductionKernel, exchange: Exchange) throws(TransportError) -> Int? {
        let rank = exchange.rank, bytes = count * elementSize
        guard rank < 2 * extra else { return rank - extra }
        if rank % 2 == 0 {
            try exchange.send(base, bytes: bytes, to: rank + 1)
            try exchange.receive(base, bytes: bytes, from: rank + 1)
            return nil
        }
        try exchange.receive(scratch, bytes: bytes, from: rank - 1)
        kernel.combine(base, scratch, count)
        return rank / 2
    }

    /// Hands the result to the rank that sat out, from its partner.
    func foldOut(_ base: UnsafeMutableRawPointer, bytes: Int, exchange: Exchange) throws(TransportError) {
        if exchange.rank < 2 * extra { try exchange.send(base, bytes: bytes, to: exchange.rank - 1) }
    }
}
