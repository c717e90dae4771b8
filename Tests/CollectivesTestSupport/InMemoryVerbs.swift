import CollectivesSystem
import CollectivesTransport

/// Queue pairs between threads of one process that behave as verbs do for ``RDMATransport``:
/// a write copies into the peer's ring at once and, with its immediate, completes one of the
/// peer's posted receives (or waits for the next one posted, as RNR retry would); every write
/// also completes on the writer's side. It runs the RDMA transport's protocol where no device
/// exists (the tests), not a substitute for hardware.
package final class InMemoryVerbsFabric: @unchecked Sendable {
    private let lock = ConditionLock()
    private let worldSize: Int
    private let ringBytes: Int
    private var completions: [[VerbsCompletion]]
    private var postedReceives: [[UInt64]]
    private var backlog: [[UInt32]]
    /// `inbound[receiver * n + sender]`: the ring the sender writes into.
    let inbound: [UnsafeMutableRawPointer]
    let staging: [UnsafeMutableRawPointer]

    package init(worldSize: Int, ringBytes: Int) {
        self.worldSize = worldSize
        self.ringBytes = ringBytes
        let pairs = worldSize * worldSize
        completions = Array(repeating: [], count: pairs)
        postedReceives = Array(repeating: [], count: pairs)
        backlog = Array(repeating: [], count: pairs)
        inbound = (0..<pairs).map { _ in .allocate(byteCount: ringBytes, alignment: 64) }
        staging = (0..<pairs).map { _ in .allocate(byteCount: ringBytes, alignment: 64) }
    }

    deinit {
        inbound.forEach { $0.deallocate() }
        staging.forEach { $0.deallocate() }
    }

    /// The transports of the group, one per rank.
    package func makeGroup(depth: Int = 64) throws(TransportError) -> [RDMATransport] {
        let n = worldSize
        var group: [RDMATransport] = []
        for rank in 0..<n {
            let channels: [VerbsChannel?] = (0..<n).map { $0 == rank ? nil : Channel(fabric: self, me: rank, peer: $0) }
            let rings: [UnsafeMutableRawPointer?] = (0..<n).map { $0 == rank ? nil : inbound[rank * n + $0] }
            let stages: [UnsafeMutableRawPointer?] = (0..<n).map { $0 == rank ? nil : staging[rank * n + $0] }
            group.append(try RDMATransport(rank: rank, channels: channels, inbound: rings, staging: stages, ringBytes: ringBytes, depth: depth))
        }
        return group
    }

    fileprivate func write(from me: Int, to peer: Int, workRequest: UInt64, local: UnsafeRawPointer, length: Int, offset: Int, immediate: UInt32) {
        lock.withLock {
            if length > 0 { (inbound[peer * worldSize + me] + offset).copyMemory(from: local, byteCount: length) }
            completions[me * worldSize + peer].append(VerbsCompletion(workRequest: workRequest, immediate: 0, isReceive: false, succeeded: true))
            deliver(immediate, to: peer, from: me)
        }
    }

    private func deliver(_ immediate: UInt32, to receiver: Int, from sender: Int) {
        let pair = receiver * worldSize + sender
        if postedReceives[pair].isEmpty {
            backlog[pair].append(immediate)
        } else {
            let request = postedReceives[pair].removeFirst()
            completions[pair].append(VerbsCompletion(workRequest: request, immediate: immediate, isReceive: true, succeeded: true))
        }
    }

    fileprivate func postReceive(_ workRequest: UInt64, me: Int, peer: Int) {
        lock.withLock {
            let pair = me * worldSize + peer
            postedReceives[pair].append(workRequest)
            if !backlog[pair].isEmpty { deliver(backlog[pair].removeFirst(), to: me, from: peer) }
        }
    }

    fileprivate func poll(me: Int, peer: Int, max: Int) -> [VerbsCompletion] {
        lock.withLock {
            let pair = me * worldSize + peer
            // Copied into storage of its own: an Array made from a prefix may share the queue's
            // buffer, which the next post appends to under the lock while the caller reads this
            // one without it (ThreadSanitizer reported that).
            var taken: [VerbsCompletion] = []
            taken.reserveCapacity(Swift.min(max, completions[pair].count))
            taken.append(contentsOf: completions[pair].prefix(max))
            completions[pair].removeFirst(taken.count)
            return taken
        }
    }

    private final class Channel: VerbsChannel {
        let fabric: InMemoryVerbsFabric
        let me: Int
        let peer: Int

        init(fabric: InMemoryVerbsFabric, me: Int, peer: Int) {
            self.fabric = fabric
            self.me = me
            self.peer = peer
        }

        func postWrite(_ workRequest: UInt64, local: UnsafeRawPointer, length: Int, remoteOffset: Int, immediate: UInt32) throws(VerbsFailure) {
            fabric.write(from: me, to: peer, workRequest: workRequest, local: local, length: length, offset: remoteOffset, immediate: immediate)
        }

        func postReceive(_ workRequest: UInt64) throws(VerbsFailure) {
            fabric.postReceive(workRequest, me: me, peer: peer)
        }

        func poll(max: Int) -> [VerbsCompletion] { fabric.poll(me: me, peer: peer, max: max) }
    }
}
