import CCollectivesAtomics
import CollectivesSystem
import Logging

extension SharedMemoryTransport {
    // MARK: Waiting

    package func wait(_ request: TransportRequest, deadline: Deadline) throws(TransportError) {
        lock.lock()
        defer { lock.unlock() }
        let slot = try liveSlot(of: request)
        try runWaitLoop(
            policy: policy, deadline: deadline, lock: lock, gauge: gauge,
            settle: { () throws(TransportError) in try frames.settle(slot) },
            progress: { progressAll() },
            checkPeers: { checkPeersLocked() },
            sleep: { nanoseconds in napLocked(nanoseconds) },
            timedOut: { () -> TransportError in expireLocked(request, slot: slot) })
    }

    private func liveSlot(of request: TransportRequest) throws(TransportError) -> Int {
        guard let slot = frames.table.slot(of: request) else {
            if let failure = frames.failure { throw failure }
            throw TransportError(.invalidArgument("unknown or spent request"), rank: rank, peer: nil, operation: "wait")
        }
        return slot
    }

    /// Sleeps on the doorbell (a peer that moves anything in our rings rings it) for at most
    /// `nanoseconds`, unless something can move now.
    private func napLocked(_ nanoseconds: UInt64) {
        let own = segments[rank]
        _ = collectives_fetch_add_u32(own.sleepers, 1)
        collectives_fence()
        let bell = collectives_load_u32(own.doorbell)
        // Failed while the caller held no lock: its ring may already be in `bell`; do not sleep.
        if frames.failure == nil && !progressAll() {
            lock.unlock()
            Futex.wait(on: own.doorbell, whileItHolds: bell, timeoutNanoseconds: Int64(Swift.min(nanoseconds, 1_000_000_000)))
            lock.lock()
        }
        _ = collectives_fetch_add_u32(own.sleepers, UInt32.max)
    }

    /// Fails the transport with the timeout of `request` and returns that error.
    private func expireLocked(_ request: TransportRequest, slot: Int) -> TransportError {
        let error = frames.timeoutError(for: request) { "pid \(segments[$0].ownerPID)" }
        failLocked(error)
        _ = try? frames.settle(slot)
        return error
    }

    // MARK: Waiting beside another medium (RoutedTransport)

    package func test(_ request: TransportRequest) throws(TransportError) -> Bool {
        lock.lock()
        defer { lock.unlock() }
        return try frames.settle(try liveSlot(of: request))
    }

    package func progress() -> Bool { lock.withLock { progressAll() } }

    package func nap(_ nanoseconds: UInt64) { lock.withLock { napLocked(nanoseconds) } }

    package func checkPeers() { lock.withLock { checkPeersLocked() } }

    package var hasQueuedWork: Bool { lock.withLock { (0..<worldSize).contains { frames.hasWork(with: $0) } } }

    package func expire(_ request: TransportRequest) -> TransportError {
        lock.withLock {
            guard let slot = frames.table.slot(of: request) else {
                return frames.failure ?? TransportError(.timedOut, rank: rank, peer: nil, operation: "wait")
            }
            return expireLocked(request, slot: slot)
        }
    }

    // MARK: Failing and closing

    /// Fails the transport: drops every queued frame, fails every request, and marks this rank's
    /// segment closed so that peers waiting on it fail within their next liveness check.
    package func fail(_ error: TransportError) {
        lock.withLock { failLocked(error) }
    }

    func failLocked(_ error: TransportError) {
        guard frames.fail(error) else { return }
        collectives_store_u32(segments[rank].closedFlag, 1)
        for (peer, segment) in segments.enumerated() where peer != rank { segment.ring() }
        segments[rank].ring()
    }

    package func close() {
        lock.withLock {
            failLocked(TransportError(.closed, rank: rank, peer: nil, operation: "wait"))
            segments[rank].unlink()
        }
    }
}

extension SharedMemoryTransport: TransportProbe {
    package var parkedWaiters: Int { gauge.value }
    package func progressOnce() -> Bool { progress() }

    /// Makes this rank judge `peer`'s liveness by process `pid` (which must not have been reaped
    /// yet) while it keeps reading `peer`'s memory by `peer`'s own pid: with a process that has
    /// exited, the state a receiver is in when its sender died and the sender's pid now names
    /// another process. For the package's tests.
    package func simulatePIDReuse(peer: Int, exitedProcess pid: Int32) {
        lock.withLock { segments[peer].watchOwner(through: pid) }
    }
}
