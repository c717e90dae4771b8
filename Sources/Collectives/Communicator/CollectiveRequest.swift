import CollectivesSystem

/// Something started without waiting for it: a collective (``CollectiveRequest``) or a
/// point-to-point message (``PointToPointRequest``).
public protocol CommunicationRequest: Sendable {
    /// Blocks until done; throws the error it failed with.
    func wait() throws(CollectivesError)
    /// Suspends, without blocking a cooperative thread, until done.
    func wait() async throws(CollectivesError)
}

extension CommunicationRequest {
    /// Waits for every request, in order, and then throws the first error any of them failed
    /// with (each has finished, or failed, by then; none is left pointing into a buffer).
    public static func waitAll(_ requests: [any CommunicationRequest]) throws(CollectivesError) {
        var first: CollectivesError?
        for request in requests {
            do { try request.wait() } catch { if first == nil { first = error } }
        }
        if let first { throw first }
    }

    /// The `async` form of ``waitAll(_:)``.
    public static func waitAll(_ requests: [any CommunicationRequest]) async throws(CollectivesError) {
        var first: CollectivesError?
        for request in requests {
            do { try await request.wait() } catch { if first == nil { first = error } }
        }
        if let first { throw first }
    }
}

/// A collective started without waiting for it (`startAllReduce(_:op:algorithm:)` and the other `start…` forms).
///
/// The collective runs on the communicator's own thread, after every call issued before it.
/// Its buffer must stay valid, and untouched, until `wait()` returns.
public final class CollectiveRequest: CommunicationRequest, @unchecked Sendable {
    private let lock = ConditionLock()
    private var result: Result<Void, CollectivesError>?
    private var times: (started: UInt64, finished: UInt64) = (0, 0)
    private weak var queue: OperationQueue?
    /// `async` waiters, resumed when the collective completes.
    private var waiters: [CheckedContinuation<Void, Never>] = []
    /// The request's place in the communicator's order; set once when it is queued.
    var ticket: UInt64 = .max

    init(queue: OperationQueue) { self.queue = queue }

    /// Runs the request's job on this thread and completes the request with its outcome and times.
    func run(_ body: () throws(CollectivesError) -> Void) {
        let started = MonotonicClock.nanoseconds
        let outcome = Result { () throws(CollectivesError) in try body() }
        complete(outcome, started: started, finished: MonotonicClock.nanoseconds)
    }

    private func complete(_ outcome: Result<Void, CollectivesError>, started: UInt64, finished: UInt64) {
        let resumed: [CheckedContinuation<Void, Never>] = lock.withLock {
            result = outcome
            times = (started, finished)
            lock.broadcast()
            defer { waiters = [] }
            return waiters
        }
        for waiter in resumed { waiter.resume() }
    }

    /// When the collective started and finished running, in monotonic nanoseconds
    /// (`Deadline.uptimeNanoseconds`), once complete; for timelines and overhead accounting.
    package var executionInterval: (started: UInt64, finished: UInt64)? {
        lock.withLock { result == nil ? nil : times }
    }

    /// Whether the collective has finished (successfully or not).
    public var isComplete: Bool { lock.withLock { result != nil } }

    /// Blocks until the collective has finished, and throws its error if it failed. The wait is
    /// bounded by the communicator's timeout, which the collective itself enforces.
    public func wait() throws(CollectivesError) {
        if !isComplete { queue?.runIfNotStarted(ticket: ticket) }
        let outcome: Result<Void, CollectivesError> = lock.withLock {
            while result == nil { lock.wait(until: .never) }
            return result!
        }
        try outcome.get()
    }

    /// Suspends, without blocking a thread, until the collective has finished (it runs on the
    /// communicator's own thread), and throws its error if it failed.
    public func wait() async throws(CollectivesError) {
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            let finished: Bool = lock.withLock {
                if result != nil { return true }
                waiters.append(continuation)
                return false
            }
            if finished { continuation.resume() }
        }
        let outcome: Result<Void, CollectivesError> = lock.withLock { result! }
        try outcome.get()
    }
}
