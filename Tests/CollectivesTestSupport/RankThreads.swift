import CollectivesSystem

/// Runs `body` for ranks `0..<worldSize`, each on its own thread, and returns their results in
/// rank order; errors are returned, not thrown, so a test can look at every rank's.
package func runRanks<R: Sendable>(_ worldSize: Int, _ body: @escaping @Sendable (Int) throws -> R) -> [Result<R, any Error>] {
    let results = Locked<[Result<R, any Error>?]>(Array(repeating: nil, count: worldSize))
    let threads = (0..<worldSize).map { rank in
        SystemThread(name: "rank \(rank)") {
            let outcome = Result { try body(rank) }
            results.withLock { $0[rank] = outcome }
        }
    }
    for thread in threads { thread.join() }
    return results.withLock { $0.map { $0! } }
}
