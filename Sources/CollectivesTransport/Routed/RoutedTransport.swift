import CollectivesSystem
import Synchronization

/// Ranks on several hosts, several on some host: shared memory between the ranks of one host,
/// TCP or RDMA verbs between hosts, chosen per pair, behind one transport.
///
/// Every message goes over the medium of its pair; one waiting thread moves both (every pass of
/// a wait moves both media, so a ring step that receives over shared memory and sends across
/// hosts keeps both flowing, and movement on either restarts the spin). The ``WaitPolicy`` is the
/// one of either medium: spin, yield, then sleep — on the doorbell futex when only shared memory
/// has queued work, in the remote medium's own sleep (`poll` for TCP, short naps for verbs) when
/// only it has, and there for at most 1 ms at a time, checking the shared rings between, when
/// both have (a futex and sockets cannot be waited on together).
///
/// Errors name ranks of the whole group. A failure of either medium's wait (a timeout) fails
/// both, so nothing queued on either touches a caller's buffer afterwards.
package final class RoutedTransport: Transport, @unchecked Sendable {
    package let rank: Int
    package let worldSize: Int
    package var name: String { "shm+\(remote.name)" }

    /// The medium over every rank that pairs across hosts use: TCP or RDMA verbs.
    let remote: any WaitMedium
    /// The TCP mesh that pairs across hosts use, when they use TCP.
    package var tcp: TCPTransport? { remote as? TCPTransport }
    /// Shared memory among this host's ranks, numbered by their order in ``localMembers``.
    package let sharedMemory: SharedMemoryTransport
    /// The group's rank of each shared-memory rank.
    package let localMembers: [Int]
    /// By group rank: its shared-memory rank, or −1 for ranks on other hosts.
    private let localIndex: [Int]
    private let lock = ConditionLock()
    /// The threads parked in this transport's wait loop (``TransportProbe``).
    let gauge = WaiterGauge()
    private var policy: WaitPolicy
    /// The error the whole transport failed with, once it has (set before the media are failed,
    /// so that what they throw afterwards is reported as this).
    private let failure = Mutex<TransportError?>(nil)

    /// Shared-memory requests carry this bit of the slot half of their handle.
    private static let sharedBit: UInt64 = 1 << 31
    /// The longest a sleep on the sockets lasts while shared memory has work queued too.
    private static let mixedNapNanoseconds: UInt64 = 1_000_000

    /// Routes `localMembers` (this host's ranks, this rank among them, in `sharedMemory`'s
    /// order) over `sharedMemory` and every other pair over `tcp`.
    package convenience init(tcp: TCPTransport, sharedMemory: SharedMemoryTransport, localMembers: [Int]) {
        self.init(remote: tcp, sharedMemory: sharedMemory, localMembers: localMembers)
    }

    /// Routes `localMembers` (this host's ranks, this rank among them, in `sharedMemory`'s
    /// order) over `sharedMemory` and every other pair over `remote` (TCP or RDMA verbs, over
    /// every rank of the group).
    package init(remote: any WaitMedium, sharedMemory: SharedMemoryTransport, localMembers: [Int]) {
        precondition(localMembers.count == sharedMemory.worldSize && localMembers[sharedMemory.rank] == remote.rank)
        rank = remote.rank
        worldSize = remote.worldSize
        self.remote = remote
        self.sharedMemory = sharedMemory
        self.localMembers = localMembers
        var index = Array(repeating: -1, count: remote.worldSize)
        for (local, member) in localMembers.enumerated() { index[member] = local }
        localIndex = index
        policy = remote.waitPolicy
        sharedMemory.waitPolicy = policy
    }

    /// How waits spin, yield and sleep (for both media); may be changed at any time.
    package var waitPolicy: WaitPolicy {
        get { lock.withLock { policy } }
        set {
            lock.withLock { policy = newValue }
            remote.waitPolicy = newValue
            sharedMemory.waitPolicy = newValue
        }
    }

    /// Whether messages with `peer` go through shared memory.
    package func isShared(_ peer: Int) -> Bool { peer >= 0 && peer < worldSize && localIndex[peer] >= 0 }

    // MARK: Posting

    package func postSend(_ buffer: UnsafeRawBufferPointer, to peer: Int, tag: MessageTag) throws(TransportError) -> TransportRequest {
        try checkPeer(peer, "send")
        let local = localIndex[peer]
        if local < 0 { return try reported { () throws(TransportError) in try remote.postSend(buffer, to: peer, tag: tag) } }
        let inner = try reportedShared { () throws(TransportError) in try sharedMemory.postSend(buffer, to: local, tag: tag) }
        return Self.sharedHandle(inner)
    }

    package func postReceive(into buffer: UnsafeMutableRawBufferPointer, from peer: Int, tag: MessageTag) throws(TransportError) -> TransportRequest {
        try checkPeer(peer, "receive")
        let local = localIndex[peer]
        if local < 0 { return try reported { () throws(TransportError) in try remote.postReceive(into: buffer, from: peer, tag: tag) } }
        let inner = try reportedShared { () throws(TransportError) in try sharedMemory.postReceive(into: buffer, from: local, tag: tag) }
        return Self.sharedHandle(inner)
    }

    private func checkPeer(_ peer: Int, _ operation: TransportOperation) throws(TransportError) {
        if let failure = failure.withLock({ $0 }) { throw failure }
        guard peer >= 0, peer < worldSize, peer != rank else {
            throw TransportError(.invalidArgument("peer \(peer) is not another rank of 0..<\(worldSize)"),
                                 rank: rank, peer: nil, operation: operation)
        }
    }

    private static func sharedHandle(_ inner: TransportRequest) -> TransportRequest {
        precondition(inner.rawValue & sharedBit == 0, "shared-memory request slot out of range")
        return TransportRequest(rawValue: inner.rawValue | sharedBit)
    }

    // MARK: Waiting

    package func wait(_ request: TransportRequest, deadline: Deadline) throws(TransportError) {
        let shared = request.rawValue & Self.sharedBit != 0
        let inner = TransportRequest(rawValue: request.rawValue & ~Self.sharedBit)
        let medium: any WaitMedium = shared ? sharedMemory : remote
        let other: any WaitMedium = shared ? remote : sharedMemory
        lock.lock()
        defer { lock.unlock() }
        try runWaitLoop(
            policy: policy, deadline: deadline, lock: lock, gauge: gauge,
            settle: { () throws(TransportError) in
                if shared {
                    return try reportedShared { () throws(TransportError) in try medium.test(inner) }
                }
                return try reported { () throws(TransportError) in try medium.test(inner) }
            },
            // Both media, and whether either moved (which restarts the spin).
            progress: {
                let moved = medium.progress()
                return other.progress() || moved
            },
            checkPeers: { sharedMemory.checkPeers() },
            sleep: { nanoseconds in
                lock.unlock()
                defer { lock.lock() }
                let across = remote.hasQueuedWork, rings = sharedMemory.hasQueuedWork
                if across && rings {
                    remote.nap(Swift.min(nanoseconds, Self.mixedNapNanoseconds))
                    _ = sharedMemory.progress()
                } else if rings {
                    sharedMemory.nap(nanoseconds)
                } else {
                    remote.nap(nanoseconds)
                }
            },
            timedOut: { () -> TransportError in
                var error = medium.expire(inner)
                if shared { error = renumbered(error) }
                fail(error)
                return failure.withLock { $0 } ?? error
            })
    }

    /// Runs a call of the remote medium, reporting the transport's failure instead of what it throws once failed.
    private func reported<T>(_ body: () throws(TransportError) -> T) throws(TransportError) -> T {
        do { return try body() } catch {
            throw failure.withLock { $0 } ?? error
        }
    }

    /// Runs a shared-memory call, renumbering its errors' ranks into the group's.
    private func reportedShared<T>(_ body: () throws(TransportError) -> T) throws(TransportError) -> T {
        do { return try body() } catch {
            throw failure.withLock { $0 } ?? renumbered(error)
        }
    }

    /// A shared-memory error with the group's rank numbers.
    private func renumbered(_ error: TransportError) -> TransportError {
        func map(_ local: Int) -> Int { local >= 0 && local < localMembers.count ? localMembers[local] : local }
        if var mismatch = error.mismatch {
            mismatch.sender = map(mismatch.sender)
            mismatch.receiver = map(mismatch.receiver)
            return mismatch.error(operation: error.operation, peerAddress: error.peerAddress)
        }
        return TransportError(error.kind, rank: map(error.rank), peer: error.peer.map(map), operation: error.operation,
                              peerAddress: error.peerAddress)
    }

    // MARK: Failing and closing

    package func fail(_ error: TransportError) {
        let first = failure.withLock { current -> TransportError in
            if current == nil { current = error }
            return current!
        }
        remote.fail(first)
        sharedMemory.fail(first)
    }

    package func close() {
        fail(TransportError(.closed, rank: rank, peer: nil, operation: "wait"))
        sharedMemory.close()
        remote.close()
    }
}

extension RoutedTransport: SubgroupCapable {
    /// Sub-communicators of a job that spans hosts run over TCP; over RDMA verbs there are none
    /// (as for a job on verbs alone).
    package var canMakeSubgroups: Bool { remote is any SubgroupCapable }

    package func prepareSubgroup() throws(TransportError) -> SubgroupPlan {
        guard let capable = remote as? any SubgroupCapable else {
            throw TransportError(.invalidArgument("the \(remote.name) transport cannot make sub-communicators"), rank: rank, peer: nil,
                                 operation: "subgroup set-up")
        }
        return try capable.prepareSubgroup()
    }
}

extension RoutedTransport: TransportProbe {
    package var parkedWaiters: Int { gauge.value }
    package func progressOnce() -> Bool {
        let moved = remote.progress()
        return sharedMemory.progress() || moved
    }
}
