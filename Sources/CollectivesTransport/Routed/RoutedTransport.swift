import CollectivesSystem

/// Ranks on several hosts, several on some host: one engine over two media, shared memory
/// between the ranks of one host and TCP or RDMA verbs between hosts, chosen per pair.
///
/// The engine's wait moves both media (a ring step that receives over shared memory and sends
/// across hosts keeps both flowing, and movement on either restarts the spin) and sleeps as its
/// ``WaitPolicy`` says: on the doorbell futex when only shared memory has queued work, in the
/// remote medium's own sleep (`poll` for TCP, short naps for verbs) when only it has, and there
/// for at most 1 ms at a time, checking the shared rings between, when both have. Errors name
/// ranks of the whole group; a failure (a timeout) fails both media.
package final class RoutedTransport: TransportEngine, @unchecked Sendable {
    package override var name: String { "shm+\(remote.name)" }

    /// The medium over every rank that pairs across hosts use: TCP or RDMA verbs.
    let remote: any HostSpanning
    /// The TCP mesh that pairs across hosts use, when they use TCP.
    package var tcp: TCPTransport? { remote as? TCPTransport }
    /// Shared memory among this host's ranks, numbered by their order in ``localMembers``.
    package let sharedMemory: SharedMemoryTransport
    /// The group's rank of each shared-memory rank.
    package let localMembers: [Int]

    /// Routes `localMembers` (this host's ranks, this rank among them, in `sharedMemory`'s
    /// order) over `sharedMemory` and every other pair over `tcp`.
    package convenience init(tcp: TCPTransport, sharedMemory: SharedMemoryTransport, localMembers: [Int]) {
        self.init(remote: tcp, sharedMemory: sharedMemory, localMembers: localMembers)
    }

    /// Routes `localMembers` (this host's ranks, this rank among them, in `sharedMemory`'s
    /// order) over `sharedMemory` and every other pair over `remote` (TCP or RDMA verbs, over
    /// every rank of the group). The two stop being transports of their own: this engine drives
    /// them, and keeps them.
    package init(remote: any HostSpanning, sharedMemory: SharedMemoryTransport, localMembers: [Int]) {
        precondition(localMembers.count == sharedMemory.worldSize && localMembers[sharedMemory.rank] == remote.rank)
        guard let medium = remote as? any TransportMedium else { preconditionFailure("\(remote.name) is not a medium") }
        self.remote = remote
        self.sharedMemory = sharedMemory
        self.localMembers = localMembers
        super.init(rank: remote.rank, worldSize: remote.worldSize, policy: remote.waitPolicy)
        // The remote medium first, so that shared memory (adopted last) carries the pairs of
        // this host.
        adopt(medium, owned: true)
        adopt(sharedMemory, members: localMembers, owned: true)
    }

    /// How waits spin, yield and sleep, for the engine and both media (subgroups made from the
    /// medium across hosts take its policy).
    package override var waitPolicy: WaitPolicy {
        get { super.waitPolicy }
        set {
            super.waitPolicy = newValue
            remote.waitPolicy = newValue
            sharedMemory.waitPolicy = newValue
        }
    }

    /// Whether messages with `peer` go through shared memory.
    package func isShared(_ peer: Int) -> Bool { peer != rank && localMembers.contains(peer) }
}

/// A transport whose medium can carry the pairs across hosts of a ``RoutedTransport``.
package protocol HostSpanning: TransportEngine {}

extension TCPTransport: HostSpanning {}
extension RDMATransport: HostSpanning {}

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

