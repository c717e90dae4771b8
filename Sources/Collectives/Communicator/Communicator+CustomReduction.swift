import CollectivesSystem
import CollectivesTransport

/// All-reduce with a reduction the caller writes.
///
/// Every rank combines the ranks' values in rank order, `((x₀ ⊕ x₁) ⊕ x₂) ⊕ …`, exactly as a
/// sequential loop over the ranks would, so the closure need be neither commutative nor
/// associative, and every rank ends with the same bits. The price: every rank receives every
/// other rank's data (an all-gather, (n − 1) × the buffer per rank, against 2(n − 1)/n for the
/// built-in operations' ring), in pieces of at most 8 MiB across all ranks so that memory stays
/// bounded.
extension Communicator {
    /// Replaces every element of `buffer`, on every rank, with `x₀ ⊕ x₁ ⊕ … ⊕ xₙ₋₁` in rank
    /// order, where `combine(&a, b)` sets `a = a ⊕ b`.
    public func allReduce<T: CollectiveElement>(_ buffer: UnsafeMutableBufferPointer<T>,
                                                combining combine: (inout T, T) -> Void) throws(CollectivesError) {
        try allReduce(buffer, combiningBuffers: { (accumulated: UnsafeMutableBufferPointer<T>, next: UnsafeBufferPointer<T>) in
            for i in 0..<accumulated.count { combine(&accumulated[i], next[i]) }
        })
    }

    /// The buffer-wise form: `combine(accumulated, next)` folds one rank's piece `next` into
    /// `accumulated` (both of the same length), ranks taken in order. Faster than the
    /// element-wise form for loops the compiler can vectorize.
    public func allReduce<T: CollectiveElement>(
        _ buffer: UnsafeMutableBufferPointer<T>,
        combiningBuffers combine: (UnsafeMutableBufferPointer<T>, UnsafeBufferPointer<T>) -> Void
    ) throws(CollectivesError) {
        let dataType = T.checkedDataType
        try queue.runHere { () throws(CollectivesError) in
            let n = worldSize, count = buffer.count
            let started = MonotonicClock.nanoseconds
            defer { metrics.record("all-reduce", algorithm: "custom", bytes: count * dataType.size, since: started) }
            guard n > 1, count > 0, let base = buffer.baseAddress else { return }
            let piece = Swift.max(1, Swift.min(count, Self.customPieceBytes / (n * dataType.size)))
            let gathered = UnsafeMutableBufferPointer<T>.allocate(capacity: piece * n)
            defer { gathered.deallocate() }
            var start = 0
            while start < count {
                let m = Swift.min(piece, count - start)
                let sequence = nextSequence()
                let call = CallDescriptor(.customAllReduce, sequence: sequence, count: m, dataType: dataType)
                (gathered.baseAddress! + rank * m).update(from: base + start, count: m)
                do throws(TransportError) {
                    try Ring.run(.allGather, buffer: UnsafeMutableRawPointer(gathered.baseAddress!), count: m * n, elementSize: dataType.size,
                                 kernel: nil, exchange: exchange(call))
                } catch {
                    throw failure(error, "\(call.description) (elements \(start)..<\(start + m) of \(count))")
                }
                let result = UnsafeMutableBufferPointer(start: base + start, count: m)
                _ = result.update(fromContentsOf: UnsafeBufferPointer(rebasing: gathered[0..<m]))
                for r in 1..<n {
                    combine(result, UnsafeBufferPointer(rebasing: gathered[(r * m)..<(r * m + m)]))
                }
                start += m
            }
        }
    }

    /// All-reduces an array with a reduction of the caller's; see
    /// ``allReduce(_:combining:)-(UnsafeMutableBufferPointer<T>,_)``.
    public func allReduce<T: CollectiveElement>(_ array: inout [T], combining combine: (inout T, T) -> Void) throws(CollectivesError) {
        try withMutableBuffer(&array) { (buffer) throws(CollectivesError) in try allReduce(buffer, combining: combine) }
    }

    /// All-reduces an array with a buffer-wise reduction of the caller's.
    public func allReduce<T: CollectiveElement>(
        _ array: inout [T], combiningBuffers combine: (UnsafeMutableBufferPointer<T>, UnsafeBufferPointer<T>) -> Void
    ) throws(CollectivesError) {
        try withMutableBuffer(&array) { (buffer) throws(CollectivesError) in try allReduce(buffer, combiningBuffers: combine) }
    }

    /// Bytes, across all ranks, of one piece of a custom all-reduce.
    static let customPieceBytes = 8 << 20
}
