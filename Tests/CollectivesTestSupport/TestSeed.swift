import CollectivesSystem

/// The seed of a random test: `COLLECTIVES_TEST_SEED` when it is a number (to replay a run),
/// else a new one; printed either way, with the test's name, so any run can be replayed.
package enum TestSeed {
    package static func make(for test: String) -> UInt64 {
        let given = ProcessEnvironment.current()["COLLECTIVES_TEST_SEED"].flatMap { UInt64($0) }
        let seed = given ?? UInt64.random(in: 0...UInt64.max)
        print("\(test): seed \(seed)\(given == nil ? "" : " (from COLLECTIVES_TEST_SEED)"); replay with COLLECTIVES_TEST_SEED=\(seed)")
        return seed
    }
}

/// A small, fast, seeded generator (splitmix64, `CollectivesSystem`'s): the same seed gives the
/// same sequence.
package typealias SeededRandom = SeededGenerator

/// A value shared by test threads behind a lock: the library's own (`LockedValue`, whose
/// comment says why not a `Mutex`).
package typealias Locked<Value> = LockedValue<Value>

/// The largest difference between two parameter vectors; infinity when their lengths differ or
/// any difference is a NaN or an infinity (which is never "close").
package func largestDifference(_ a: [Float], _ b: [Float]) -> Float {
    guard a.count == b.count else { return .infinity }
    var largest: Float = 0
    for (x, y) in zip(a, b) {
        let difference = abs(x - y)
        guard difference.isFinite else { return .infinity }
        largest = Swift.max(largest, difference)
    }
    return largest
}
