import CollectivesSystem
import Synchronization


/// Runs a communicator's operations one at a time, in the order they were issued, whether they
/// were issued by blocking calls (which run on the caller's thread) or by `async` calls (which
/// run on the queue's own thread, so they never block Swift's cooperative threads).
///
/// Every call takes a ticket when it is issued; a call runs when its ticket comes up. Once the
/// queue has failed (``fail(_:)``), every call whose turn comes throws that error at once
/// instead of running, whether it was issued before the failure or after.
///
/// A blocking call on an idle queue (nothing queued, nothing running) takes no ticket and no
/// lock: it claims ``fastOwner`` with one atomic exchange and runs. Ticketed calls count
/// themselves in ``outstanding`` before they look at ``fastOwner``, and the fast path looks at
/// ``outstanding`` again after its claim (both sequentially consistent), so the two never run at
/// once; a fast call that finds ticketed calls waiting when it ends wakes them.
final class OperationQueue: @unchecked Sendable {
    private let lock = ConditionLock()
    private var failure: CollectivesError?
    /// Whether ``failure`` is set, readable without the lock.
    private let failed = Atomic<Bool>(false)
    /// The thread running a call by the fast path (its `currentThreadID`), 0 when none.
    private let fastOwner = Atomic<UInt>(0)
    /// Tickets issued and not finished: `nextTicket − serving`, kept beside them under the lock.
    private let outstanding = Atomic<UInt64>(0)
    private var nextTicket: UInt64 = 0 {
        didSet { outstanding.store(nextTicket &- serving, ordering: .sequentiallyConsistent) }
    }
    private var serving: UInt64 = 0 {
        didSet { outstanding.store(nextTicket &- serving, ordering: .sequentiallyConsistent) }
    }
    private var jobs: [(ticket: UInt64, run: @Sendable () -> Void)] = []
    private var worker: SystemThread?
    private var stopping = false
    /// The thread running the current operation, so that an operation made of others (an
    /// `async` or `start…` form running a blocking one on the worker) runs them in its turn.
    private var runningThread: UInt?
    /// Told when each operation ends.
    private let recorder: FlightRecorder?

    init(recorder: FlightRecorder? = nil) { self.recorder = recorder }

    /// Runs `body` on the calling thread once every earlier operation has finished. Called from
    /// inside an operation, runs `body` at once, as part of that operation.
    func runHere<R>(_ body: () throws(CollectivesError) -> R) throws(CollectivesError) -> R {
        if claimIdle() {
            defer {
                recorder?.end()
                releaseFastPath()
            }
            return try body()
        }
        lock.lock()
        if isRunningOnThisThreadLocked {
            let failed = failure
            lock.unlock()
            if let failed { throw failed }
            return try body()
        }
        let ticket = nextTicket
        nextTicket += 1
        while serving != ticket || fastOwner.load(ordering: .sequentiallyConsistent) != 0 { lock.wait(until: .never) }
        let failed = failure
        runningThread = currentThreadID
        lock.unlock()
        defer { finish() }
        if let failed { throw failed }
        return try body()
    }

    /// Claims the queue for a call on this thread when it is idle and has not failed: no ticket
    /// outstanding, no other fast call, and still no ticket once claimed.
    @inline(__always)
    private func claimIdle() -> Bool {
        guard !failed.load(ordering: .relaxed), outstanding.load(ordering: .sequentiallyConsistent) == 0,
              fastOwner.compareExchange(expected: 0, desired: currentThreadID, ordering: .sequentiallyConsistent).exchanged else {
            return false
        }
        if outstanding.load(ordering: .sequentiallyConsistent) == 0 { return true }
        // A ticketed call came in between: it goes first.
        releaseFastPath()
        return false
    }

    /// Ends a fast call, waking ticketed calls that wait for it.
    @inline(__always)
    private func releaseFastPath() {
        fastOwner.store(0, ordering: .sequentiallyConsistent)
        if outstanding.load(ordering: .sequentiallyConsistent) != 0 {
            lock.withLock { lock.broadcast() }
        }
    }

    /// Whether the calling thread runs one of this queue's operations (with the lock held).
    private var isRunningOnThisThreadLocked: Bool {
        if let running = runningThread, running == currentThreadID { return true }
        let fast = fastOwner.load(ordering: .sequentiallyConsistent)
        return fast != 0 && fast == currentThreadID
    }

    /// Whether the calling thread is running one of this queue's operations.
    private var isRunningOnThisThread: Bool {
        lock.withLock { isRunningOnThisThreadLocked }
    }

    /// Fails the queue: this and every later call throws `error` (the first error wins).
    func fail(_ error: CollectivesError) {
        lock.withLock {
            if failure == nil { failure = error }
            failed.store(true, ordering: .sequentiallyConsistent)
        }
    }

    /// The error the queue failed with, if it has.
    var currentFailure: CollectivesError? { lock.withLock { failure } }

    /// `body`, preceded by the check that the queue has not failed.
    private func guarded<R>(_ body: @escaping @Sendable () throws(CollectivesError) -> R) -> @Sendable () throws(CollectivesError) -> R {
        { [self] () throws(CollectivesError) in
            if let failed = currentFailure { throw failed }
            return try body()
        }
    }

    /// Runs `body` on the queue's thread once every earlier operation has finished, and
    /// suspends (without blocking a thread) until it has.
    func runOnWorker<R: Sendable>(_ body: @escaping @Sendable () throws(CollectivesError) -> R) async throws(CollectivesError) -> R {
        let body = guarded(body)
        let result: Result<R, CollectivesError> = await withCheckedContinuation { continuation in
            enqueue {
                continuation.resume(returning: Result { () throws(CollectivesError) in try body() })
            }
        }
        return try result.get()
    }

    /// Queues `body` for the queue's thread and returns at once with a handle to wait on.
    func start(_ body: @escaping @Sendable () throws(CollectivesError) -> Void) -> CollectiveRequest {
        let body = guarded(body)
        let request = CollectiveRequest(queue: self)
        if isRunningOnThisThread {
            // Started from inside an operation: it runs now, as part of that operation.
            request.run(body)
            return request
        }
        request.ticket = enqueue { request.run(body) }
        return request
    }

    /// As ``start(_:)``, but when nothing is queued or running, runs `body` at once on the
    /// calling thread: for bodies that only post work to the transport (point-to-point
    /// messages), so the message is on its way before the caller goes on computing, instead of
    /// waiting for the queue's thread to be scheduled (on oversubscribed cores, hundreds of
    /// microseconds).
    func startNowIfIdle(_ body: @escaping @Sendable () throws(CollectivesError) -> Void) -> CollectiveRequest {
        lock.lock()
        guard jobs.isEmpty, runningThread == nil, serving == nextTicket, !isRunningOnThisThreadLocked else {
            lock.unlock()
            return start(body)
        }
        // Counted first, then the fast path looked at: the order the fast path relies on.
        let ticket = nextTicket
        nextTicket += 1
        if fastOwner.load(ordering: .sequentiallyConsistent) != 0 {
            // Another thread's call runs without a ticket: queue this behind it rather than wait.
            let request = CollectiveRequest(queue: self)
            let run = guarded(body)
            appendLocked(ticket: ticket) { request.run(run) }
            request.ticket = ticket
            lock.unlock()
            return request
        }
        runningThread = currentThreadID
        lock.unlock()
        let request = CollectiveRequest(queue: self)
        request.run(guarded(body))
        finish()
        return request
    }

    @discardableResult
    private func enqueue(_ run: @escaping @Sendable () -> Void) -> UInt64 {
        lock.withLock {
            let ticket = nextTicket
            nextTicket += 1
            appendLocked(ticket: ticket, run)
            return ticket
        }
    }

    /// Queues `run` under `ticket` (already taken) for the queue's thread, with the lock held.
    private func appendLocked(ticket: UInt64, _ run: @escaping @Sendable () -> Void) {
        jobs.append((ticket, run))
        if worker == nil {
            // Without a thread (the system is out of them) the job still runs: the caller
            // that waits for it runs it itself (`runIfNotStarted`), and the next job retries.
            worker = try? SystemThread(starting: "collectives") { [self] in workLoop() }
        }
        lock.broadcast()
    }

    /// Called by a thread about to wait for the job with `ticket`: once every earlier
    /// operation has finished, if the worker has not taken the job yet, the caller runs it
    /// itself, saving two thread hand-offs (each tens of microseconds on a virtual machine).
    func runIfNotStarted(ticket: UInt64) {
        lock.lock()
        while serving < ticket || fastOwner.load(ordering: .sequentiallyConsistent) != 0, jobs.contains(where: { $0.ticket == ticket }) {
            lock.wait(until: .never)
        }
        guard serving == ticket, let index = jobs.firstIndex(where: { $0.ticket == ticket }) else {
            lock.unlock()
            return
        }
        let job = jobs.remove(at: index)
        runningThread = currentThreadID
        lock.unlock()
        job.run()
        finish()
    }

    private func workLoop() {
        lock.lock()
        while true {
            if let first = jobs.first, first.ticket == serving, fastOwner.load(ordering: .sequentiallyConsistent) == 0 {
                jobs.removeFirst()
                runningThread = currentThreadID
                lock.unlock()
                first.run()
                finish()
                lock.lock()
                continue
            }
            if stopping && jobs.isEmpty { break }
            lock.wait(until: .never)
        }
        lock.unlock()
    }

    private func finish() {
        recorder?.end()
        lock.withLock {
            runningThread = nil
            serving += 1
            lock.broadcast()
        }
    }

    /// Lets queued work finish, then stops the worker thread.
    func shutdown() {
        let thread: SystemThread? = lock.withLock {
            stopping = true
            lock.broadcast()
            return worker
        }
        thread?.join()
    }
}
