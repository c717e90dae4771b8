import CollectivesSystem
import CoreMetrics

/// A communicator's metrics, through swift-metrics: for each collective (and, for all-reduce,
/// each algorithm) the number of calls, the bytes this rank contributed and the time each took;
/// failures by kind; the time bootstrap took. They go to ``CommunicatorOptions/metricsFactory``,
/// or else to the factory the program bootstrapped (`MetricsSystem.bootstrap`); without either,
/// swift-metrics' no-op backend drops them at the cost of a call.
///
/// | label | kind | dimensions |
/// |---|---|---|
/// | `collectives_calls_total` | counter | `collective`, `algorithm` |
/// | `collectives_bytes_total` | counter | `collective` |
/// | `collectives_duration` | timer (nanoseconds) | `collective`, `algorithm` |
/// | `collectives_failures_total` | counter | `kind` |
/// | `collectives_bootstrap_duration` | timer (nanoseconds) | |
///
/// Metric objects are made once per collective and algorithm and kept; recording a call is two
/// counter increments and one timer record.
final class CollectiveMetrics: @unchecked Sendable {
    private struct Key: Hashable {
        let collective: String
        let algorithm: String
    }

    private struct PerCall {
        let calls: Counter
        let bytes: Counter
        let duration: Timer
    }

    private let factory: any MetricsFactory
    // Touched only inside the communicator's operations, which run one at a time.
    private var perCall: [Key: PerCall] = [:]
    private var failures: [CollectivesError.Kind: Counter] = [:]
    private let lock = ConditionLock()

    /// The metrics of the call recorded last, found again without hashing.
    private var last: (key: Key, metrics: PerCall)?
    /// Whether calls are recorded: not where the factory is swift-metrics' no-op one (no backend
    /// was bootstrapped and none given), so that a call then pays neither the clock nor the table.
    let isRecording: Bool

    init(factory: (any MetricsFactory)?) {
        self.factory = factory ?? MetricsSystem.factory
        isRecording = !(self.factory is NOOPMetricsHandler)
    }

    /// Records one finished call of `collective` (successful or not), started at `since`
    /// (monotonic nanoseconds).
    func record(_ collective: String, algorithm: String, bytes: Int, since started: UInt64) {
        guard isRecording else { return }
        let nanoseconds = MonotonicClock.nanoseconds &- started
        let key = Key(collective: collective, algorithm: algorithm)
        let metrics: PerCall = lock.withLock {
            if let last, last.key == key { return last.metrics }
            if let known = perCall[key] {
                last = (key, known)
                return known
            }
            let dimensions = [("collective", collective), ("algorithm", algorithm)]
            let made = PerCall(calls: Counter(label: "collectives_calls_total", dimensions: dimensions, factory: factory),
                               bytes: Counter(label: "collectives_bytes_total", dimensions: [("collective", collective)], factory: factory),
                               duration: Timer(label: "collectives_duration", dimensions: dimensions, factory: factory))
            perCall[key] = made
            last = (key, made)
            return made
        }
        metrics.calls.increment()
        metrics.bytes.increment(by: bytes)
        metrics.duration.recordNanoseconds(Int64(clamping: nanoseconds))
    }

    /// Records a failure.
    func recordFailure(_ kind: CollectivesError.Kind) {
        let counter: Counter = lock.withLock {
            if let known = failures[kind] { return known }
            let made = Counter(label: "collectives_failures_total", dimensions: [("kind", "\(kind)")], factory: factory)
            failures[kind] = made
            return made
        }
        counter.increment()
    }

    /// Records how long bootstrap took.
    func recordBootstrap(nanoseconds: UInt64) {
        Timer(label: "collectives_bootstrap_duration", factory: factory).recordNanoseconds(Int64(clamping: nanoseconds))
    }
}
