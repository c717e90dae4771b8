/// A new array of `count` elements that `fill` writes, given `input`'s storage and the new
/// array's: the array forms of the collectives (`allGather(_:)`, `gather(_:root:)`…) run through it.
func collected<T: CollectiveElement>(
    _ input: [T], count: Int,
    _ fill: (UnsafeBufferPointer<T>, UnsafeMutableBufferPointer<T>) throws(CollectivesError) -> Void
) throws(CollectivesError) -> [T] {
    var output: [T] = uninitializedArray(count)
    try withBuffers(input, &output, fill)
    return output
}

/// `body` over `array`'s storage, keeping its typed error (`withUnsafeMutableBufferPointer`
/// rethrows it as `any Error`): the in-place array forms of the collectives run through it.
func withMutableBuffer<T, R>(_ array: inout [T], _ body: (UnsafeMutableBufferPointer<T>) throws(CollectivesError) -> R) throws(CollectivesError) -> R {
    let result: Result<R, CollectivesError> = array.withUnsafeMutableBufferPointer { buffer in
        Result { () throws(CollectivesError) in try body(buffer) }
    }
    return try result.get()
}

/// `body` over the memory `span` covers, keeping its typed error.
func withMutableBuffer<T, R>(_ span: inout MutableSpan<T>, _ body: (UnsafeMutableBufferPointer<T>) throws(CollectivesError) -> R) throws(CollectivesError) -> R {
    let result: Result<R, CollectivesError> = span.withUnsafeMutableBufferPointer { buffer in
        Result { () throws(CollectivesError) in try body(buffer) }
    }
    return try result.get()
}

/// `body` over `array`'s storage, read only, keeping its typed error.
func withBuffer<T, R>(_ array: [T], _ body: (UnsafeBufferPointer<T>) throws(CollectivesError) -> R) throws(CollectivesError) -> R {
    let result: Result<R, CollectivesError> = array.withUnsafeBufferPointer { buffer in
        Result { () throws(CollectivesError) in try body(buffer) }
    }
    return try result.get()
}

/// `body` over `input`'s storage and `output`'s, keeping its typed error.
func withBuffers<T>(_ input: [T], _ output: inout [T],
                    _ body: (UnsafeBufferPointer<T>, UnsafeMutableBufferPointer<T>) throws(CollectivesError) -> Void) throws(CollectivesError) {
    try withBuffer(input) { (send) throws(CollectivesError) in
        try withMutableBuffer(&output) { (receive) throws(CollectivesError) in try body(send, receive) }
    }
}

/// An array of `count` elements whose values a collective writes next. Empty without touching
/// any storage: an empty `Array(unsafeUninitializedCapacity:)` writes the count of the one empty
/// array every thread shares (ThreadSanitizer reported it beside another thread's read).
func uninitializedArray<T: CollectiveElement>(_ count: Int) -> [T] {
    count == 0 ? [] : [T](unsafeUninitializedCapacity: count) { _, initialized in initialized = count }
}
