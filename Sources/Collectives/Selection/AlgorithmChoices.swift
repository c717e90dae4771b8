/// The automatic choices a communicator has made, by message size. Its cost model is fixed once
/// measured, and so is every other input of the choice (world, layout, segment size, board), so
/// a size is looked up here instead of evaluating the model on every call. Four sizes are kept,
/// replaced in turn: a training step repeats a handful of bucket sizes, a benchmark one size at
/// a time. Inline storage: no allocation, no reference counting.
struct AlgorithmChoices {
    private var sizes = InlineArray<4, Int>(repeating: -1)
    private var choices = InlineArray<4, Algorithm>(repeating: .auto)
    private var next = 0

    /// The choice made for `bytes`, if one was.
    func choice(forBytes bytes: Int) -> Algorithm? {
        for slot in sizes.indices where sizes[slot] == bytes { return choices[slot] }
        return nil
    }

    /// Keeps `choice` for `bytes`, in place of the oldest.
    mutating func remember(_ choice: Algorithm, forBytes bytes: Int) {
        sizes[next] = bytes
        choices[next] = choice
        next = (next + 1) % sizes.count
    }
}
