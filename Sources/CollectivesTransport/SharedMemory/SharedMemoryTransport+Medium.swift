import CCollectivesAtomics
import CollectivesSystem
import Logging

/// What the engine asks of shared memory besides moving bytes: sleeping on the doorbell,
/// checking peers, and going away.
extension SharedMemoryTransport {
    var hasQueuedWork: Bool { frames.hasWork }

    /// Peers are checked every 100 ms: a crashed process moves nothing and rings no doorbell.
    var livenessInterval: UInt64 { 100_000_000 }

    func peerAddress(_ peer: Int) -> String? { "pid \(segments[peer].ownerPID)" }

    /// Sleeps on the doorbell (a peer that moves anything in this rank's rings rings it) for at
    /// most `nanoseconds`, unless something can move now.
    func sleep(_ nanoseconds: UInt64, releasing lock: ConditionLock) {
        let own = segments[rank]
        _ = collectives_fetch_add_u32(own.sleepers, 1)
        collectives_fence()
        let bell = collectives_load_u32(own.doorbell)
        // Failed while the caller held no lock: its ring may already be in `bell`; do not sleep.
        if !frames.isDropped && !progress() {
            lock.unlock()
            Futex.wait(on: own.doorbell, whileItHolds: bell, timeoutNanoseconds: Int64(Swift.min(nanoseconds, 1_000_000_000)))
            lock.lock()
        }
        _ = collectives_fetch_add_u32(own.sleepers, UInt32.max)
    }

    /// A sleeper released the lock: failing takes the lock and rings the doorbells.
    func interrupt() {}

    /// Drops every queued frame and marks this rank's segment closed, so that peers waiting on
    /// it fail within their next liveness check; rings every doorbell.
    func dropAll() {
        frames.dropAll()
        collectives_store_u32(segments[rank].closedFlag, 1)
        for (peer, segment) in segments.enumerated() where peer != rank { segment.ring() }
        segments[rank].ring()
    }

    func release() { segments[rank].unlink() }

    /// Makes this rank judge `peer`'s liveness by process `pid` (which must not have been reaped
    /// yet) while it keeps reading `peer`'s memory by `peer`'s own pid: with a process that has
    /// exited, the state a receiver is in when its sender died and the sender's pid now names
    /// another process. For the package's tests.
    package func simulatePIDReuse(peer: Int, exitedProcess pid: Int32) {
        lock.withLock { segments[peer].watchOwner(through: pid) }
    }
}
