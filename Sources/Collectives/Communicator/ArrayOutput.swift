/// A new array of `count` elements that `fill` writes, given `input`'s storage and the new
/// array's: the array forms of the collectives (`allGather(_:)`, `gather(_:root:)`…) run through it.
func collected<T: CollectiveElement>(
    _ input: [T], count: Int,
    _ fill: (UnsafeBufferPointer<T>, UnsafeMutableBufferPointer<T>) throws(CollectivesError) -> Void
) throws(CollectivesError) -> [T] {
    var output = [T](unsafeUninitializedCapacity: count) { _, initialized in initialized = count }
    let result: Result<Void, CollectivesError> = input.withUnsafeBufferPointer { send in
        output.withUnsafeMutableBufferPointer { receive in
            Result { () throws(CollectivesError) in try fill(send, receive) }
        }
    }
    try result.get()
    return output
}
