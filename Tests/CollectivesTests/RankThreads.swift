import CollectivesTestSupport
import CollectivesSystem
import Synchronization

/// Runs `body` for ranks `0..<worldSize`, each on its own thread, and returns their results in
/// rank order; errors are returned, not thrown, so a test can look at every rank's.
func runRanks<R: Sendable>(_ worldSize: Int, _ body: @escaping @Sendable (Int) throws -> R) -> [Result<R, any Error>] {
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

/// Whether the tests run scaled down (`COLLECTIVES_TEST_SCALE=small`: under ThreadSanitizer).
let testScaleIsSmall = ProcessEnvironment.current()["COLLECTIVES_TEST_SCALE"] == "small"

/// A port that is free now on loopback.
func freeLoopbackPort() throws -> UInt16 {
    let socket = try Socket.listen(on: .loopback(port: 0))
    defer { socket.close() }
    return try socket.localAddress().port
}
