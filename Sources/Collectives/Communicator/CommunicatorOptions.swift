import CollectivesSystem
import CollectivesTransport
import Logging

/// Settings of a communicator. Defaults suit most jobs; `COLLECTIVES_TIMEOUT` sets
/// ``timeoutSeconds`` when the communicator is made from the environment.
public struct CommunicatorOptions: Sendable {
    /// Bounds every blocking wait: rendezvous, connecting, each collective. Default 300 s.
    public var timeoutSeconds: Double = 300

    /// The ring all-reduce cuts each rank's share into segments of at most this many bytes and
    /// pipelines them. Default 512 KiB (the best of the sizes measured; see docs/benchmarks.md).
    public var ringSegmentBytes: Int = 512 << 10

    /// How many segments the ring receives ahead of the one it is reducing. Default 4.
    public var ringWindow: Int = 4

    /// Settings of the TCP transport.
    public var tcp = TCPOptions()

    /// Where the library logs (swift-log). Label `collectives`.
    public var logger = Logger(label: "collectives")

    public init() {}
}

extension CommunicatorOptions {
    /// Reads the tuning variables `COLLECTIVES_RING_SEGMENT_BYTES`, `COLLECTIVES_RING_WINDOW`,
    /// `COLLECTIVES_SOCKET_BUFFER_BYTES` and `COLLECTIVES_SPIN_MICROSECONDS` where set; a malformed value is an error naming it.
    public mutating func applyTuning(from environment: [String: String]) throws(CollectivesError) {
        func integer(_ name: String, minimum: Int = 1, limit: Int) throws(CollectivesError) -> Int? {
            guard let text = environment[name] else { return nil }
            guard let value = Int(text), value >= minimum, value <= limit else {
                throw CollectivesError(.configuration, rank: -1, operation: "reading the environment",
                                       reason: "environment variable \(name)=\"\(text)\" is invalid: expected an integer from \(minimum) to \(limit)")
            }
            return value
        }
        if let value = try integer("COLLECTIVES_RING_SEGMENT_BYTES", limit: 1 << 30) { ringSegmentBytes = value }
        if let value = try integer("COLLECTIVES_RING_WINDOW", limit: 1024) { ringWindow = value }
        if let value = try integer("COLLECTIVES_SOCKET_BUFFER_BYTES", minimum: 0, limit: 1 << 30) { tcp.socketBufferBytes = Int32(value) }
        if let value = try integer("COLLECTIVES_SPIN_MICROSECONDS", minimum: 0, limit: 1_000_000) { tcp.spinMicroseconds = value }
    }
}
