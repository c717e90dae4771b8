/// The element-wise reduction loops the collectives use, for a program's own buffers (and for
/// the kernel micro-benchmarks).
public enum LocalReduction {
    /// Sets `target[i] = target[i] ⊕ source[i]` for every element; ``ReduceOperation/average``
    /// adds, as its collectives do before the final division.
    ///
    /// - Precondition: both buffers hold the same number of elements, and `op` applies to `T`
    ///   (``ReduceOperation/applies(to:)``).
    public static func combine<T: CollectiveElement>(_ target: UnsafeMutableBufferPointer<T>, _ source: UnsafeBufferPointer<T>, op: ReduceOperation) {
        precondition(target.count == source.count, "combine needs buffers of the same length")
        guard let d = target.baseAddress, let s = source.baseAddress else { return }
        ReductionKernel(checked: T.checkedDataType, operation: op).combine(UnsafeMutableRawPointer(d), UnsafeRawPointer(s), target.count)
    }

    /// Divides every element by `divisor`: the last step of an average over `divisor` ranks.
    public static func divide<T: CollectiveElement>(_ buffer: UnsafeMutableBufferPointer<T>, by divisor: Int) {
        guard let d = buffer.baseAddress, let finish = ReductionKernel(dataType: T.checkedDataType, operation: .average)?.finish else { return }
        finish(UnsafeMutableRawPointer(d), buffer.count, divisor)
    }
}
