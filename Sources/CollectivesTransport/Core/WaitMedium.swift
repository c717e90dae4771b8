import CollectivesSystem

/// What a transport offers so that one thread can wait on it and on another transport at once
/// (``RoutedTransport``): non-blocking steps instead of a whole wait loop. Each method takes the
/// transport's own lock. TCP, shared memory and RDMA verbs are media.
package protocol WaitMedium: Transport {
    /// How its own waits spin, yield and sleep.
    var waitPolicy: WaitPolicy { get set }
    /// Settles `request` if it is done (`true`; the handle is spent); `false` while it is
    /// pending. Throws the request's error once it failed. Moves nothing (``progress()`` does).
    func test(_ request: TransportRequest) throws(TransportError) -> Bool
    /// Moves what can move; returns whether anything did.
    func progress() -> Bool
    /// Whether any send or receive is queued (so a peer's progress could wake this medium).
    var hasQueuedWork: Bool { get }
    /// Sleeps until something may have moved or `nanoseconds` pass, then moves what can.
    func nap(_ nanoseconds: UInt64)
    /// Fails the requests of peers found dead or closed (for media that do not notice by
    /// themselves).
    func checkPeers()
    /// Fails the transport with the timeout of `request` and returns that error.
    func expire(_ request: TransportRequest) -> TransportError
}
