import CollectivesTestSupport
import CollectivesSystem
import Synchronization

/// Whether the tests run scaled down (`COLLECTIVES_TEST_SCALE=small`: under ThreadSanitizer).
let testScaleIsSmall = ProcessEnvironment.current()["COLLECTIVES_TEST_SCALE"] == "small"

/// A port that is free now on loopback.
func freeLoopbackPort() throws -> UInt16 {
    let socket = try Socket.listen(on: .loopback(port: 0))
    defer { socket.close() }
    return try socket.localAddress().port
}
