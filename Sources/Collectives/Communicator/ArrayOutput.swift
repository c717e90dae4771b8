/// A new array of `count` elements that `fill` writes, given `input`'s storage and the new
/// array's: the array forms of the collectives (`allGather(_:)`, `gather(_:root:)`…) run through it.
func collected<T: CollectiveElement>(
    _ input: [T], count: Int,
    _ fill: (UnsafeBufferPointer<T>, UnsafeMutableBufferPointer<T>) throws(CollectivesError) -> Void
) throws(CollectivesError) -> [T] {
    var output: [T] = uninitializedArray(count)
    let result: Result<Void, CollectivesError> = input.withUnsafeBufferPointer { send in
        output.withUnsafeMutableBufferPointer { receive in
            Result { () throws(CollectivesError) in try fill(send, receive) }
        }
    }
    try result.get()
    return output
}

/// An array of `count` elements whose values a collective writes next. Empty without touching
/// any storage: an empty `Array(unsafeUninitializedCapacity:)` writes the count of the one empty
/// array every thread shares (ThreadSanitizer reported it beside another thread's read).
func uninitializedArray<T: CollectiveElement>(_ count: Int) -> [T] {
    count == 0 ? [] : [T](unsafeUninitializedCapacity: count) { _, initialized in initialized = count }
}
