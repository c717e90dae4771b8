/// The in-place collectives on any mutable collection with contiguous storage
/// (`ContiguousArray`, `ArraySlice`, a buffer of your own type…) and on `MutableSpan`.
extension Communicator {
    /// All-reduces `values` in place. As the array form of `allReduce(_:op:algorithm:)`; `values`
    /// must have contiguous storage (`withContiguousMutableStorageIfAvailable`), or the call is
    /// refused with ``CollectivesError/Kind/invalidArgument``.
    public func allReduce<C: MutableCollection>(_ values: inout C, op: ReduceOperation = .sum, algorithm: Algorithm? = nil) throws(CollectivesError)
    where C.Element: CollectiveElement {
        try withContiguous(&values, operation: "all-reduce") { (buffer) throws(CollectivesError) in try allReduce(buffer, op: op, algorithm: algorithm) }
    }

    /// Broadcasts the root's `values` into every rank's, in place (contiguous storage needed).
    public func broadcast<C: MutableCollection>(_ values: inout C, root: Int) throws(CollectivesError) where C.Element: CollectiveElement {
        try withContiguous(&values, operation: "broadcast") { (buffer) throws(CollectivesError) in try broadcast(buffer, root: root) }
    }

    /// Reduces every rank's `values` into the root's, in place (contiguous storage needed).
    public func reduce<C: MutableCollection>(_ values: inout C, op: ReduceOperation = .sum, root: Int) throws(CollectivesError)
    where C.Element: CollectiveElement {
        try withContiguous(&values, operation: "reduce") { (buffer) throws(CollectivesError) in try reduce(buffer, op: op, root: root) }
    }

    /// All-reduces the elements a `MutableSpan` covers, in place.
    public func allReduce<T: CollectiveElement>(_ span: inout MutableSpan<T>, op: ReduceOperation = .sum, algorithm: Algorithm? = nil) throws(CollectivesError) {
        try withMutableBuffer(&span) { (buffer) throws(CollectivesError) in try allReduce(buffer, op: op, algorithm: algorithm) }
    }

    /// Broadcasts the root's span into every rank's.
    public func broadcast<T: CollectiveElement>(_ span: inout MutableSpan<T>, root: Int) throws(CollectivesError) {
        try withMutableBuffer(&span) { (buffer) throws(CollectivesError) in try broadcast(buffer, root: root) }
    }

    private func withContiguous<C: MutableCollection>(
        _ values: inout C, operation: String,
        _ body: (UnsafeMutableBufferPointer<C.Element>) throws(CollectivesError) -> Void
    ) throws(CollectivesError) where C.Element: CollectiveElement {
        let outcome: Result<Void, CollectivesError>? = values.withContiguousMutableStorageIfAvailable { buffer in
            Result { () throws(CollectivesError) in try body(buffer) }
        }
        guard let outcome else {
            throw CollectivesError(.invalidArgument, rank: rank, operation: operation,
                                   reason: "a \(C.self) has no contiguous storage; copy it into an array first")
        }
        try outcome.get()
    }
}
