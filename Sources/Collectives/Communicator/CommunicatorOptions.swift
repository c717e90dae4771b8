import CollectivesSystem
import CollectivesTransport
import CoreMetrics
import Logging

/// Settings of a communicator. Defaults suit most jobs; `COLLECTIVES_TIMEOUT` sets
/// ``timeout`` when the communicator is made from the environment.
public struct CommunicatorOptions: Sendable {
    /// ``timeout`` in seconds, as the library reads it.
    package var timeoutSeconds: Double = 300

    /// Bounds every blocking wait: rendezvous, connecting, each collective. Default 300 s
    /// (`.seconds(30)`, `.milliseconds(1500)`); a very large one (`.seconds(1e10)`) waits as long
    /// as it takes.
    public var timeout: Duration {
        get { Duration(seconds: timeoutSeconds) }
        set { timeoutSeconds = newValue.inSeconds }
    }

    /// The ring all-reduce cuts each rank's share into segments of at most this many bytes and
    /// pipelines them. Default 512 KiB (the best of the sizes measured; see docs/benchmarks.md).
    public var ringSegmentBytes: Int = 512 << 10

    /// How many segments the ring receives ahead of the one it is reducing. Default 4.
    public var ringWindow: Int = 4

    /// The tree all-reduce and the chain broadcast and reduce pipeline in segments of at most this
    /// many bytes. Default 128 KiB.
    public var treeSegmentBytes: Int = 128 << 10

    /// The all-reduce algorithm used when a call does not name one. Default ``Algorithm/auto``;
    /// `COLLECTIVES_ALGORITHM` sets it.
    public var algorithm: Algorithm = .auto

    /// The constants ``Algorithm/auto`` chooses with; `nil` (the default) measures them the first
    /// time a choice is needed. `COLLECTIVES_LATENCY_US`, `COLLECTIVES_BANDWIDTH_GBPS` and
    /// `COLLECTIVES_REDUCE_GBPS` set them.
    public var costModel: CostModel?

    /// Which transport carries the data. Default `.auto`;
    /// `COLLECTIVES_TRANSPORT` sets it.
    public var transport: TransportChoice = .auto

    /// Settings of the shared-memory transport. `COLLECTIVES_SHM_RING_BYTES` sets the ring size.
    public var sharedMemory = SharedMemoryOptions()

    /// Settings of the TCP transport.
    public var tcp = TCPOptions()

    /// How long a waiting rank polls before it yields or sleeps; `nil` (the default) takes
    /// `WaitPolicy.automatic(localRanks:cores:)`'s value for the ranks on this host.
    /// `COLLECTIVES_SPIN_MICROSECONDS` sets it.
    public var spinMicroseconds: Int?

    /// How long, after spinning, a waiting rank polls with `sched_yield` between polls before it
    /// sleeps; `nil` (the default) takes `WaitPolicy.automatic(localRanks:cores:)`'s value.
    /// `COLLECTIVES_YIELD_MICROSECONDS` sets it.
    public var yieldMicroseconds: Int?

    /// The wait policy of a communicator with `localRanks` ranks on this host: the automatic
    /// one, with ``spinMicroseconds`` and ``yieldMicroseconds`` where set.
    package func waitPolicy(localRanks: Int) -> WaitPolicy {
        let automatic = WaitPolicy.automatic(localRanks: localRanks)
        return WaitPolicy(spinMicroseconds: spinMicroseconds ?? automatic.spinMicroseconds,
                          yieldMicroseconds: yieldMicroseconds ?? automatic.yieldMicroseconds)
    }

    /// How many of its last calls a communicator keeps for diagnosis (its flight recorder: each
    /// call's number, operation, type, count, root, algorithm, state and times), dumped as JSON
    /// on a timeout and on `SIGUSR1`; 0 turns it off. `COLLECTIVES_FLIGHT_RECORDER` sets it.
    public var flightRecorderEntries = 256

    /// The folder flight-recorder dumps go to, one file per communicator and rank
    /// (`collectives-flight-c0-rank3.json`). `COLLECTIVES_FLIGHT_RECORDER_DIR` sets it.
    public var flightRecorderDirectory = "/tmp"

    /// Where the library logs (swift-log). Label `collectives`.
    public var logger = Logger(label: "collectives")

    /// Where this communicator's metrics go (calls, bytes and time per collective and
    /// algorithm, failures, bootstrap time; see docs/api.md). `nil`, the default, uses the
    /// factory the program bootstrapped with `MetricsSystem.bootstrap`, which without one
    /// drops them.
    public var metricsFactory: (any MetricsFactory)?

    /// The RDMA verbs calls the communicator makes (the library on this host by default); a test
    /// stands in for a device here.
    package var verbsDevice: any VerbsDevice = HardwareVerbsDevice.shared

    public init() {}
}

extension CommunicatorOptions {
    /// Reads `COLLECTIVES_TRANSPORT`, `COLLECTIVES_SHM_RING_BYTES`, `COLLECTIVES_SHM_SINGLE_COPY_BYTES`, `COLLECTIVES_ALGORITHM`, the cost-model constants `COLLECTIVES_LATENCY_US`,
    /// `COLLECTIVES_BANDWIDTH_GBPS` and `COLLECTIVES_REDUCE_GBPS`, and the tuning variables
    /// `COLLECTIVES_RING_SEGMENT_BYTES`, `COLLECTIVES_RING_WINDOW`, `COLLECTIVES_TREE_SEGMENT_BYTES`,
    /// `COLLECTIVES_SOCKET_BUFFER_BYTES`, `COLLECTIVES_TCP_STREAMS`, `COLLECTIVES_TCP_STRIPE_BYTES`, `COLLECTIVES_TCP_LIVENESS_SECONDS`, `COLLECTIVES_AUTHENTICATE_DATA`, `COLLECTIVES_CONNECT_TIMEOUT`,
    /// `COLLECTIVES_SPIN_MICROSECONDS` and `COLLECTIVES_YIELD_MICROSECONDS`, and the flight
    /// recorder's `COLLECTIVES_FLIGHT_RECORDER` and `COLLECTIVES_FLIGHT_RECORDER_DIR`, where set; a
    /// malformed value is an error naming it.
    public mutating func applyTuning(from environment: [String: String]) throws(CollectivesError) {
        func invalid(_ name: String, _ text: String, _ expected: String) -> CollectivesError {
            CollectivesError(.configuration, rank: nil, operation: "reading the environment",
                             reason: "environment variable \(name)=\"\(text)\" is invalid: expected \(expected)")
        }
        func integer(_ name: String, minimum: Int = 1, limit: Int) throws(CollectivesError) -> Int? {
            guard let text = environment[name] else { return nil }
            guard let value = Int(text), value >= minimum, value <= limit else {
                throw invalid(name, text, "an integer from \(minimum) to \(limit)")
            }
            return value
        }
        func positive(_ name: String) throws(CollectivesError) -> Double? {
            guard let text = environment[name] else { return nil }
            guard let value = Double(text), value > 0, value.isFinite else { throw invalid(name, text, "a positive number") }
            return value
        }
        if let text = environment[EnvironmentVariable.transport.name] {
            guard let value = TransportChoice(rawValue: text.lowercased()) ?? (text.lowercased() == "rdma" ? .verbs : nil) else {
                throw invalid(EnvironmentVariable.transport.name, text, TransportChoice.allCases.map(\.rawValue).joined(separator: ", "))
            }
            transport = value
        }
        if let value = try integer(EnvironmentVariable.sharedMemoryRingBytes.name, minimum: 4096, limit: 1 << 30) { sharedMemory.ringBytes = value }
        if let value = try integer(EnvironmentVariable.singleCopyBytes.name, minimum: 0, limit: Int.max) { sharedMemory.singleCopyBytes = value }
        if let text = environment[EnvironmentVariable.algorithm.name] {
            guard let value = Algorithm(name: text) else {
                throw invalid(EnvironmentVariable.algorithm.name, text, Algorithm.allCases.map(\.rawValue).joined(separator: ", "))
            }
            algorithm = value
        }
        let latency = try positive(EnvironmentVariable.latencyMicroseconds.name), bandwidth = try positive(EnvironmentVariable.bandwidthGBps.name)
        let reduce = try positive(EnvironmentVariable.reduceGBps.name)
        if latency != nil || bandwidth != nil || reduce != nil {
            guard let latency, let bandwidth else {
                throw CollectivesError(.configuration, rank: nil, operation: "reading the environment",
                                       reason: "COLLECTIVES_LATENCY_US and COLLECTIVES_BANDWIDTH_GBPS must be set together")
            }
            costModel = CostModel(latencySeconds: latency * 1e-6, secondsPerByte: 1e-9 / bandwidth,
                                  reduceSecondsPerByte: 1e-9 / (reduce ?? 10))
        }
        if let value = try integer(EnvironmentVariable.treeSegmentBytes.name, limit: 1 << 30) { treeSegmentBytes = value }
        if let value = try integer(EnvironmentVariable.ringSegmentBytes.name, limit: 1 << 30) { ringSegmentBytes = value }
        if let value = try integer(EnvironmentVariable.ringWindow.name, limit: 1024) { ringWindow = value }
        if let value = try integer(EnvironmentVariable.socketBufferBytes.name, minimum: 0, limit: 1 << 30) { tcp.socketBufferBytes = Int32(value) }
        if let value = try integer(EnvironmentVariable.tcpStreams.name, limit: 64) { tcp.streams = value }
        if let value = try integer(EnvironmentVariable.tcpLivenessSeconds.name, minimum: 0, limit: 86_400) { tcp.livenessTimeoutSeconds = Double(value) }
        if let value = try integer(EnvironmentVariable.authenticateData.name, minimum: 0, limit: 1) { tcp.authenticateFrames = value == 1 }
        if let value = try positive(EnvironmentVariable.connectTimeout.name) { tcp.connectTimeoutSeconds = value }
        if let value = try integer(EnvironmentVariable.tcpStripeBytes.name, limit: 1 << 30) { tcp.stripeThresholdBytes = value }
        if let value = try integer(EnvironmentVariable.spinMicroseconds.name, minimum: 0, limit: 1_000_000) { spinMicroseconds = value }
        if let value = try integer(EnvironmentVariable.yieldMicroseconds.name, minimum: 0, limit: 100_000_000) { yieldMicroseconds = value }
        if let value = try integer(EnvironmentVariable.flightRecorder.name, minimum: 0, limit: 1 << 20) { flightRecorderEntries = value }
        if let text = environment[EnvironmentVariable.flightRecorderDirectory.name] {
            guard !text.isEmpty else { throw invalid(EnvironmentVariable.flightRecorderDirectory.name, text, "a folder") }
            flightRecorderDirectory = text
        }
    }
}

/// Which transport a communicator uses between its ranks (``CommunicatorOptions/transport``);
/// defined where the transports are.
public typealias TransportChoice = CollectivesTransport.TransportChoice
