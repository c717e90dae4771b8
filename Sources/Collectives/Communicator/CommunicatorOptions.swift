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
