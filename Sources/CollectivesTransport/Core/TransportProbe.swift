import CollectivesSystem

/// What the package's tests and checks observe of a transport's engine, so that a test of a
/// wake-up knows the waiter is parked before it wakes it (instead of sleeping and hoping), and a
/// test of a failure can keep the engine moving while a peer's late data arrives.
package protocol TransportProbe: AnyObject {
    /// Threads inside `wait` whose request had not settled when they entered the wait loop, and
    /// that have not left it yet.
    var parkedWaiters: Int { get }
    /// One pass of the progress engine without waiting, as a wait on some other request would
    /// make: moves every byte that can move (after a failure too). Returns whether any did.
    func progressOnce() -> Bool
}

extension TransportSubset: TransportProbe {
    package var parkedWaiters: Int { (base as? any TransportProbe)?.parkedWaiters ?? 0 }
    package func progressOnce() -> Bool { (base as? any TransportProbe)?.progressOnce() ?? false }
}
