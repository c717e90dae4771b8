import CollectivesSystem
import Synchronization

/// The progress engine every transport of the package runs on: it owns the requests, the one
/// lock, the wait (spin, yield, then sleep, as its ``WaitPolicy`` says), deadlines and failure,
/// and drives one or more media that move the bytes (TCP, shared memory, RDMA verbs).
///
/// Each group rank is routed to one medium. A transport of one medium is that medium and its
/// engine in one object (``TCPTransport``, ``SharedMemoryTransport``, ``RDMATransport``); a job
/// spanning hosts is one engine over shared memory and a medium across hosts, whose waits move
/// both and whose failure fails both (``RoutedTransport``).
public class TransportEngine: Transport, @unchecked Sendable {
    /// This process's rank in the group, `0..<worldSize`.
    public let rank: Int
    /// The number of ranks in the group.
    public let worldSize: Int
    /// A short name for logs and benchmark output.
    public var name: String { "engine" }

    let lock = ConditionLock()
    /// The threads parked in this engine's wait loop (``TransportProbe``).
    let gauge = WaiterGauge()
    /// Behind a pointer, which media hold too; as a stored `var` of the class every access on
    /// the hot path paid a dynamic exclusivity check. The lock makes access exclusive.
    let ledgerStorage: UnsafeMutablePointer<RequestLedger>
    var ledger: RequestLedger {
        unsafeAddress { UnsafePointer(ledgerStorage) }
        unsafeMutableAddress { ledgerStorage }
    }
    /// The ledger this object reports into when it is itself a medium: its own, until an engine
    /// over several media adopts it (``adopt(_:members:owned:)``).
    var requests: UnsafeMutablePointer<RequestLedger>
    private(set) var media: [MediumReference] = []
    /// Media this engine keeps alive (not a transport's own medium, which is the transport).
    private var ownedMedia: [AnyObject] = []
    /// By group rank: the medium that carries messages with it, and its rank there (−1: none).
    private var routes: [(medium: Int, peer: Int)]
    private var livenessInterval: UInt64 = .max
    var policy: WaitPolicy
    /// Why the whole engine failed, once it has: later posts throw it.
    private(set) var failure: TransportError?
    /// A failure asked for from another thread, seen by a waiter that wakes holding the lock.
    private let requestedFailure = Mutex<TransportError?>(nil)
    /// Whether ``requestedFailure`` holds one: a post reads this instead of taking the mutex.
    private let failureAsked = Atomic<Bool>(false)
    private let closedFlag = Atomic<Bool>(false)
    /// Set when another engine drives this transport as one of its media (the name of that
    /// engine's transport): this one's own posts are refused, as its medium reports elsewhere.
    private var lender: String?

    /// An engine for `rank` of `worldSize` ranks, with no medium yet (``adopt(_:members:owned:)``).
    init(rank: Int, worldSize: Int, policy: WaitPolicy) {
        self.rank = rank
        self.worldSize = worldSize
        self.policy = policy
        routes = Array(repeating: (-1, -1), count: worldSize)
        ledgerStorage = .allocate(capacity: 1)
        ledgerStorage.initialize(to: RequestLedger())
        requests = ledgerStorage
    }

    deinit {
        // Media that outlive this engine for a moment report into their own ledgers again.
        for case let engine as TransportEngine in ownedMedia { engine.requests = engine.ledgerStorage }
        ledgerStorage.deinitialize(count: 1)
        ledgerStorage.deallocate()
    }

    /// Routes group ranks `members` (the medium's ranks, in its order; `nil`: every rank, same
    /// numbers) over `medium`, which from now on reports into this engine's ledger. `owned`
    /// keeps it alive (a transport adopting itself does not).
    func adopt(_ medium: any TransportMedium, members: [Int]? = nil, owned: Bool) {
        precondition(!medium.hasQueuedWork, "a medium is adopted with nothing queued")
        if owned, let engine = medium as? TransportEngine { engine.lender = self.name }
        let index = media.count
        media.append(MediumReference(medium: medium))
        if owned { ownedMedia.append(medium) }
        medium.requests = ledgerStorage
        ledger.addMedium(numbering: members)
        for (local, member) in (members ?? Array(0..<worldSize)).enumerated() where member != rank {
            routes[member] = (index, local)
        }
        livenessInterval = Swift.min(livenessInterval, medium.livenessInterval)
    }

    /// How waits spin, yield and sleep; may be changed at any time.
    package var waitPolicy: WaitPolicy {
        get { lock.withLock { policy } }
        set { lock.withLock { policy = newValue } }
    }

    // MARK: Posting

    public final func postSend(_ buffer: UnsafeRawBufferPointer, to peer: Int, tag: MessageTag) throws(TransportError) -> TransportRequest {
        try post(Message(base: UnsafeMutableRawPointer(mutating: buffer.baseAddress), count: buffer.count, tag: tag,
                         request: TransportRequest(rawValue: 0)), peer: peer, isSend: true)
    }

    public final func postReceive(into buffer: UnsafeMutableRawBufferPointer, from peer: Int, tag: MessageTag) throws(TransportError) -> TransportRequest {
        try post(Message(base: buffer.baseAddress, count: buffer.count, tag: tag, request: TransportRequest(rawValue: 0)),
                 peer: peer, isSend: false)
    }

    private func post(_ message: Message, peer: Int, isSend: Bool) throws(TransportError) -> TransportRequest {
        lock.lock()
        defer { lock.unlock() }
        if failure != nil || failureAsked.load(ordering: .relaxed), let failure = latchedFailure { throw failure }
        if let lender { throw lentError(lender, operation: isSend ? .send : .receive) }
        guard peer >= 0, peer < worldSize, peer != rank, routes[peer].medium >= 0 else {
            throw TransportError(.invalidArgument("peer \(peer) is not another rank of 0..<\(worldSize)"), rank: rank, peer: peer,
                                 operation: isSend ? .send : .receive)
        }
        let route = routes[peer]
        var message = message
        message.request = ledger.open(peer: peer, isSend: isSend, medium: route.medium)
        do {
            try media[route.medium].medium.enqueue(message, peer: route.peer, isSend: isSend)
        } catch {
            ledger.discard(message.request)
            throw latchedFailure ?? ledger.renumbered(error, medium: route.medium)
        }
        return message.request
    }

    // MARK: Waiting

    public final func wait(_ request: TransportRequest, deadline: Deadline) throws(TransportError) {
        lock.lock()
        defer { lock.unlock() }
        let slot = try liveSlot(of: request)
        try runWaitLoop(
            policy: policy, deadline: deadline, lock: lock, gauge: gauge, livenessInterval: livenessInterval,
            settle: { () throws(TransportError) in try settle(slot) },
            progress: { progressAll() },
            checkPeers: { for reference in media { reference.medium.checkPeers() } },
            sleep: { nanoseconds in sleepLocked(nanoseconds) },
            timedOut: { () -> TransportError in expireLocked(slot: slot) })
    }

    /// Whether the request in `slot` is done; once it failed, the engine's own failure if it has
    /// one (a medium that was being shut down may have failed it with what the shut-down looked
    /// like, a peer gone), else the request's error. Lock held.
    @inline(__always)
    private func settle(_ slot: Int) throws(TransportError) -> Bool {
        do { return try ledger.settle(slot) } catch {
            throw latchedFailure ?? error
        }
    }

    /// The engine's failure, or one asked for from another thread that has not latched yet.
    /// Lock held.
    private var latchedFailure: TransportError? { failure ?? requestedFailure.withLock { $0 } }

    /// The slot of a request this rank may wait on, or the engine's failure (or a spent-handle
    /// error). Lock held.
    private func liveSlot(of request: TransportRequest) throws(TransportError) -> Int {
        guard let slot = ledger.slot(of: request) else {
            throw failure ?? TransportError(.invalidArgument("unknown or spent request"), rank: rank, peer: nil, operation: .wait)
        }
        return slot
    }

    /// The error of a post on a transport that another engine drives as a medium.
    private func lentError(_ lender: String, operation: TransportOperation) -> TransportError {
        TransportError(.invalidArgument("this \(name) transport is a medium of the \(lender) transport; post there"), rank: rank,
                       peer: nil, operation: operation)
    }

    /// Moves what every medium can move; returns whether anything did. Lock held.
    @inline(__always)
    func progressAll() -> Bool {
        if media.count == 1 { return media[0].medium.progress() }
        var moved = false
        for reference in media where reference.medium.progress() { moved = true }
        return moved
    }

    /// Sleeps in the medium that has work queued (a peer's progress wakes it). When several
    /// have, sleeps in the first medium (the one across hosts: `poll`, or verbs' short naps) for
    /// at most 1 ms at a time, moving the others after (a futex and sockets cannot be waited on
    /// together). Then takes a failure asked for from another thread, or moves what the sleep
    /// found. Lock held.
    private func sleepLocked(_ nanoseconds: UInt64) {
        // The one busy medium; with several busy (or none), the first, which wakes on its own
        // descriptors.
        var busy = 0, lastBusy = media[0].medium
        if media.count > 1 {
            for reference in media where reference.medium.hasQueuedWork {
                busy += 1
                lastBusy = reference.medium
            }
        }
        let sleeper = busy == 1 ? lastBusy : media[0].medium
        sleeper.sleep(busy > 1 ? Swift.min(nanoseconds, Self.mixedNapNanoseconds) : nanoseconds, releasing: lock)
        // Before moving anything: a failure asked for woke the sleeper by breaking what it sleeps on.
        if let failure = requestedFailure.withLock({ $0 }) {
            failLocked(failure)
            return
        }
        _ = sleeper.progressAfterSleep()
        if media.count > 1 { _ = progressAll() }
    }

    /// The longest a sleep in one medium lasts while another has work queued too.
    private static let mixedNapNanoseconds: UInt64 = 1_000_000

    /// Fails the engine with the timeout of the request in `slot`, naming its peer and where
    /// that peer is, and returns the error. Lock held.
    private func expireLocked(slot: Int) -> TransportError {
        let (peer, isSend, medium) = ledger.route(ofSlot: slot)
        let error = TransportError(.timedOut, rank: rank, peer: peer, operation: isSend ? .send : .receive,
                                   peerAddress: media[medium].medium.peerAddress(routes[peer].peer))
        failLocked(error)
        _ = try? ledger.settle(slot)
        return error
    }

    // MARK: Failing and closing

    /// Fails the engine: every queued request fails with `error` and is dropped, later posts
    /// throw it, and every medium lets its peers see this rank go.
    public final func fail(_ error: TransportError) {
        // Wake a thread asleep in a medium first (TCP polls holding the lock); it finds the error
        // here when it wakes, so the failure is this one and not the shut-down sockets.
        requestedFailure.withLock { if $0 == nil { $0 = error } }
        failureAsked.store(true, ordering: .releasing)
        for reference in media { reference.medium.interrupt() }
        lock.withLock { failLocked(error) }
    }

    /// Fails the engine with `error` unless it has failed already. Lock held.
    func failLocked(_ error: TransportError) {
        guard failure == nil else { return }
        failure = error
        ledger.failAll(error)
        for reference in media { reference.medium.dropAll() }
    }

    /// Fails every request with ``TransportError/Kind/closed`` and releases every medium's
    /// resources. Later calls fail the same way.
    public final func close() {
        if closedFlag.exchange(true, ordering: .acquiringAndReleasing) { return }
        fail(TransportError(.closed, rank: rank, peer: nil, operation: .wait))
        lock.withLock {
            for reference in media { reference.medium.release() }
        }
    }
}

extension TransportEngine: TransportProbe {
    package var parkedWaiters: Int { gauge.value }
    package func progressOnce() -> Bool { lock.withLock { progressAll() } }
}
