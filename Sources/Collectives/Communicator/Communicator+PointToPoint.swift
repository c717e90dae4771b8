import CollectivesSystem
import CollectivesTransport
import Synchronization

/// Tagged point-to-point messages between two ranks of a communicator.
///
/// Messages from one rank to another are matched in the order they were sent, and each receive
/// must name the tag and size its message was sent with (a difference is an error, not a
/// silent mix-up). They are ordered with the communicator's collectives: a send issued before a
/// collective on one rank must be received before that collective on the other. A large
/// blocking send may wait until its receive is posted, as `MPI_Send` may; to exchange with a
/// peer, start both sides (``startSend(_:to:tag:)``, ``startReceive(into:from:tag:)``) and then
/// wait.
extension Communicator {
    /// Tags go in the high bits of the transport's tag; this many are available.
    public static let maximumTag = (1 << 48) - 1

    /// Sends `buffer` to `peer` and waits until it has left (not necessarily until it arrived).
    public func send<T: CollectiveElement>(_ buffer: UnsafeBufferPointer<T>, to peer: Int, tag: Int = 0) throws(CollectivesError) {
        try startSend(buffer, to: peer, tag: tag).wait()
    }

    /// Sends an array to `peer`.
    public func send<T: CollectiveElement>(_ array: [T], to peer: Int, tag: Int = 0) throws(CollectivesError) {
        try withBuffer(array) { (buffer) throws(CollectivesError) in try send(buffer, to: peer, tag: tag) }
    }

    /// Receives exactly `buffer.count` elements from `peer` into `buffer`.
    public func receive<T: CollectiveElement>(into buffer: UnsafeMutableBufferPointer<T>, from peer: Int, tag: Int = 0) throws(CollectivesError) {
        try startReceive(into: buffer, from: peer, tag: tag).wait()
    }

    /// Receives `count` elements of `T` from `peer`.
    public func receive<T: CollectiveElement>(_: T.Type = T.self, count: Int, from peer: Int, tag: Int = 0) throws(CollectivesError) -> [T] {
        return try collected([], count: count) { (_, buffer) throws(CollectivesError) in try receive(into: buffer, from: peer, tag: tag) }
    }

    /// Starts sending `buffer` to `peer`, after every call issued before this one, and returns at
    /// once. `buffer` must stay valid and unchanged until the request's `wait()`
    /// returns.
    public func startSend<T: CollectiveElement>(_ buffer: UnsafeBufferPointer<T>, to peer: Int, tag: Int = 0) -> PointToPointRequest {
        let memory = LentMemory(buffer)
        let bytes = buffer.count * T.checkedDataType.size
        return startPointToPoint(peer: peer, tag: tag, count: buffer.count, dataType: T.checkedDataType, what: "send of \(buffer.count) × \(T.checkedDataType) to rank \(peer), tag \(tag)") { transport, wireTag throws(TransportError) in
            try transport.postSend(UnsafeRawBufferPointer(start: memory.base, count: bytes), to: peer, tag: wireTag)
        }
    }

    /// Starts receiving into `buffer` from `peer`, after every call issued before this one, and
    /// returns at once. `buffer` must stay valid, and untouched, until the request completes.
    public func startReceive<T: CollectiveElement>(into buffer: UnsafeMutableBufferPointer<T>, from peer: Int, tag: Int = 0) -> PointToPointRequest {
        let memory = LentMemory(buffer)
        let bytes = buffer.count * T.checkedDataType.size
        return startPointToPoint(peer: peer, tag: tag, count: buffer.count, dataType: T.checkedDataType, what: "receive of \(buffer.count) × \(T.checkedDataType) from rank \(peer), tag \(tag)") { transport, wireTag throws(TransportError) in
            try transport.postReceive(into: UnsafeMutableRawBufferPointer(start: memory.base, count: bytes), from: peer, tag: wireTag)
        }
    }

    private func startPointToPoint(
        peer: Int, tag: Int, count: Int, dataType: DataType, what: String,
        post: @escaping @Sendable (any Transport, MessageTag) throws(TransportError) -> TransportRequest
    ) -> PointToPointRequest {
        let request = PointToPointRequest(communicator: self, what: what)
        let posting = queue.startNowIfIdle { () throws(CollectivesError) in
            guard peer >= 0, peer < self.worldSize, peer != self.rank else {
                throw CollectivesError(.invalidArgument, rank: self.rank, operation: what, peer: peer,
                                       reason: "peer \(peer) is not another rank of 0..<\(self.worldSize)")
            }
            guard tag >= 0, tag <= Self.maximumTag else {
                throw CollectivesError(.invalidArgument, rank: self.rank, operation: what,
                                       reason: "tag \(tag) is outside 0...\(Self.maximumTag)")
            }
            do throws(TransportError) {
                request.posted(try post(self.transport, CallDescriptor(.pointToPoint, sequence: UInt64(tag), count: count, dataType: dataType).tag))
            } catch {
                throw self.failure(error, what)
            }
        }
        request.posting = posting
        return request
    }
}

/// A send or receive started with ``Communicator/startSend(_:to:tag:)`` or
/// ``Communicator/startReceive(into:from:tag:)``.
public final class PointToPointRequest: CommunicationRequest, @unchecked Sendable {
    private let communicator: Communicator
    private let what: String
    private let handle = Mutex<TransportRequest?>(nil)
    /// The first waiter does the waiting; later ones wait for its outcome.
    private let lock = ConditionLock()
    private var inProgress = false
    private var finished: Result<Void, CollectivesError>?
    private var waiters: [CheckedContinuation<Void, Never>] = []
    /// The queued job that posts the message.
    var posting: CollectiveRequest?

    init(communicator: Communicator, what: String) {
        self.communicator = communicator
        self.what = what
    }

    func posted(_ request: TransportRequest) { handle.withLock { $0 = request } }

    /// Blocks until the message has been sent (its buffer may be reused) or received, or the
    /// communicator's timeout passes. Waiting again, or from several threads, returns the same
    /// outcome once it is known.
    public func wait() throws(CollectivesError) {
        lock.lock()
        while finished == nil && inProgress { lock.wait(until: .never) }
        if let outcome = finished {
            lock.unlock()
            return try outcome.get()
        }
        inProgress = true
        lock.unlock()
        let outcome = perform()
        complete(outcome)
        try outcome.get()
    }

    /// Suspends, without blocking a cooperative thread, until the message has been sent or
    /// received. The first waiter's wait runs on the communicator's thread, after the calls
    /// issued before it; a waiter arriving while another waits is resumed with its outcome.
    public func wait() async throws(CollectivesError) {
        let leads: Bool? = lock.withLock {
            if finished != nil { return nil }
            if inProgress { return false }
            inProgress = true
            return true
        }
        if leads == true {
            let outcome: Result<Void, CollectivesError>
            do {
                outcome = try await communicator.queue.runOnWorker { () throws(CollectivesError) in self.perform() }
            } catch {
                outcome = .failure(error)
            }
            complete(outcome)
            return try outcome.get()
        }
        if leads == false {
            await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
                let done: Bool = lock.withLock {
                    if finished != nil { return true }
                    waiters.append(continuation)
                    return false
                }
                if done { continuation.resume() }
            }
        }
        let outcome: Result<Void, CollectivesError> = lock.withLock { finished! }
        try outcome.get()
    }

    /// Waits for the posting job, then for the transport's request.
    private func perform() -> Result<Void, CollectivesError> {
        Result { () throws(CollectivesError) in
            try posting?.wait()
            guard let request = handle.withLock({ $0.take() }) else { return }
            try communicator.queue.runHere { () throws(CollectivesError) in
                do throws(TransportError) {
                    try communicator.transport.wait(request, deadline: communicator.operationDeadline())
                } catch {
                    throw communicator.failure(error, what)
                }
            }
        }
    }

    /// Records the outcome and wakes every other waiter.
    private func complete(_ outcome: Result<Void, CollectivesError>) {
        let resumed: [CheckedContinuation<Void, Never>] = lock.withLock {
            finished = outcome
            inProgress = false
            lock.broadcast()
            defer { waiters = [] }
            return waiters
        }
        for waiter in resumed { waiter.resume() }
    }
}
