import CollectivesSystem

/// A message handed to a medium: the caller's buffer, what it is tagged with, and the request
/// the engine opened for it.
struct Message {
    var base: UnsafeMutableRawPointer?
    var count: Int
    var tag: MessageTag
    var request: TransportRequest
}

/// What moves bytes for a ``TransportEngine``: TCP sockets, shared-memory rings, RDMA verbs
/// queue pairs. A medium queues messages, moves what it can when asked, sleeps on what it can
/// sleep on, and reports every request's completion or failure into its engine's
/// ``RequestLedger``. The engine owns everything else, once for every medium: requests, the
/// lock, the wait (spin, yield, sleep), deadlines, and failing the whole transport.
///
/// The engine calls every method but ``interrupt()`` with its lock held. A medium numbers ranks
/// its own way (`0..<` its size, itself ``rank``); the engine maps group ranks to them.
protocol TransportMedium: AnyObject {
    /// This process's rank among the medium's.
    var rank: Int { get }
    /// A short name, for example `"tcp"`.
    var name: String { get }
    /// The ledger of the engine that drives this medium (set when an engine adopts it).
    var requests: UnsafeMutablePointer<RequestLedger> { get set }

    /// Queues `message` to or from `peer` and starts it if it can. Throws if the pair cannot
    /// carry messages any more (its stream broke). May split the request (``RequestLedger/split(_:into:)``).
    func enqueue(_ message: Message, peer: Int, isSend: Bool) throws(TransportError)
    /// Moves what can move; returns whether anything did.
    func progress() -> Bool
    /// Whether any message is queued.
    var hasQueuedWork: Bool { get }
    /// Sleeps until something may have moved or `nanoseconds` pass. May release `lock` while
    /// it sleeps (it holds it again when it returns).
    func sleep(_ nanoseconds: UInt64, releasing lock: ConditionLock)
    /// Moves what can move after a sleep (only what the sleep found ready, where it knows).
    func progressAfterSleep() -> Bool
    /// How often the engine asks it to ``checkPeers()`` while a wait goes on; `.max` for media
    /// that notice dead peers by themselves.
    var livenessInterval: UInt64 { get }
    /// Fails the requests of peers found dead or closed.
    func checkPeers()
    /// Where `peer` is, for error messages.
    func peerAddress(_ peer: Int) -> String?
    /// Wakes a thread asleep in ``sleep(_:releasing:)``, from any thread, without the lock (the
    /// engine is failing).
    func interrupt()
    /// Drops every queued message: the engine failed, and its requests failed with it. Nothing
    /// the medium does afterwards may touch a caller's buffer, and peers should see this rank go.
    func dropAll()
    /// Releases sockets, segments and device resources.
    func release()
}

extension TransportMedium {
    var livenessInterval: UInt64 { .max }
    func progressAfterSleep() -> Bool { progress() }
    func checkPeers() {}
}

/// A medium as an engine holds it. Unowned: a transport that is its own medium owns its engine
/// state, and an engine over several media keeps them alive itself (``TransportEngine``).
struct MediumReference {
    unowned(unsafe) let medium: any TransportMedium
}
