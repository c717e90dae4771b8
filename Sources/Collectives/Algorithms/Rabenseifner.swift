import CollectivesSystem
import CollectivesTransport

/// Rabenseifner's all-reduce, for mid-size messages: a reduce-scatter by recursive halving, then
/// an all-gather by recursive doubling. 2 log2 *p* steps like recursive doubling's log2 *p*, but
/// each rank sends and combines only 2(*p* − 1)/*p* · *N* and (*p* − 1)/*p* · *N* bytes, as
/// the ring does, instead of *N* per step.
///
/// When *n* is not a power of two, the extra ranks fold in first and get the result back at the
/// end, as in ``RecursiveDoubling`` (``PowerOfTwoFold``).
///
/// Each block of the result is combined on one rank only and then copied to the others, so every
/// rank ends with the same bits.
enum Rabenseifner {
    static func run(
        buffer: UnsafeMutableRawPointer?, count: Int, elementSize: Int, kernel: ReductionKernel, exchange: Exchange
    ) throws(TransportError) {
        guard case let (fold, base, bytes)? = PowerOfTwoFold.of(buffer, count: count, elementSize: elementSize, exchange: exchange) else {
            return
        }
        let power = fold.power
        let scratch = exchange.workspace.scratch(atLeast: bytes)
        guard let me = try fold.foldIn(base, count: count, elementSize: elementSize, scratch: scratch, kernel: kernel,
                                       exchange: exchange) else { return }
        func actual(_ index: Int) -> Int { fold.rank(ofIndex: index) }
        // Block b of the p blocks: elements [start(b), start(b + 1)).
        func start(_ block: Int) -> Int { block * count / power }

        // Reduce-scatter by recursive halving: keep the half of the current blocks on this
        // rank's side of the partner, send the other half, combine the partner's copy of ours.
        var low = 0, high = power
        var distance = power / 2
        while distance >= 1 {
            let partner = actual(me ^ distance)
            let middle = (low + high) / 2
            let (keep, give) = me & distance == 0 ? ((low, middle), (middle, high)) : ((middle, high), (low, middle))
            let keepCount = start(keep.1) - start(keep.0), giveCount = start(give.1) - start(give.0)
            try swap(send: base + start(give.0) * elementSize, sendBytes: giveCount * elementSize,
                     receive: scratch, receiveBytes: keepCount * elementSize, with: partner, exchange: exchange)
            if keepCount > 0 { kernel.combine(base + start(keep.0) * elementSize, scratch, keepCount) }
            (low, high) = keep
            distance /= 2
        }

        // All-gather by recursive doubling: swap the blocks held for the partner's, in place.
        distance = 1
        while distance < power {
            let partner = actual(me ^ distance)
            let size = high - low
            let (otherLow, otherHigh) = me & distance == 0 ? (high, high + size) : (low - size, low)
            try swap(send: base + start(low) * elementSize, sendBytes: (start(high) - start(low)) * elementSize,
                     receive: base + start(otherLow) * elementSize, receiveBytes: (start(otherHigh) - start(otherLow)) * elementSize,
                     with: partner, exchange: exchange)
            low = Swift.min(low, otherLow)
            high = Swift.max(high, otherHigh)
            distance *= 2
        }
        kernel.finish?(base, count, exchange.worldSize)
        try fold.foldOut(base, bytes: bytes, exchange: exchange)
    }

    /// Sends and receives with one peer at once; a side of no bytes is left out on both ranks
    /// alike (each knows the other's sizes).
    private static func swap(send: UnsafeRawPointer, sendBytes: Int, receive: UnsafeMutableRawPointer, receiveBytes: Int,
                             with peer: Int, exchange: Exchange) throws(TransportError) {
        let received = receiveBytes > 0 ? try exchange.postReceive(receive, bytes: receiveBytes, from: peer) : nil
        let sent = sendBytes > 0 ? try exchange.postSend(send, bytes: sendBytes, to: peer) : nil
        if let received { try exchange.wait(received) }
        if let sent { try exchange.wait(sent) }
    }
}
