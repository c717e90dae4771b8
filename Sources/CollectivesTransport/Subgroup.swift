import CollectivesSystem

/// The first half of making a transport for a subgroup of a group's ranks (what a
/// sub-communicator runs on): this rank's ``endpoint``, to be shared with the other members by
/// the caller, and then ``connect(id:rank:endpoints:deadline:)`` or ``cancel()``.
///
/// A subgroup's transport is independent of its parent's: it has its own connections (or its own
/// queues), so collectives on the two never mix, and both can be used at the same time.
package struct SubgroupPlan: Sendable {
    /// Bytes the other members need to reach this rank (for TCP, a listening address).
    package let endpoint: [UInt8]
    private let connectBody: @Sendable (UInt64, Int, [[UInt8]], Deadline) throws(TransportError) -> any Transport
    private let cancelBody: @Sendable () -> Void

    package init(
        endpoint: [UInt8],
        connect: @escaping @Sendable (UInt64, Int, [[UInt8]], Deadline) throws(TransportError) -> any Transport,
        cancel: @escaping @Sendable () -> Void
    ) {
        self.endpoint = endpoint
        connectBody = connect
        cancelBody = cancel
    }

    /// Connects this rank, `rank` of the subgroup, to the other members.
    ///
    /// - Parameters:
    ///   - id: the same on every member and different for every subgroup made from this group.
    ///   - endpoints: every member's ``endpoint``, by subgroup rank.
    package func connect(id: UInt64, rank: Int, endpoints: [[UInt8]], deadline: Deadline) throws(TransportError) -> any Transport {
        try connectBody(id, rank, endpoints, deadline)
    }

    /// Releases what ``SubgroupPlan`` holds, for a rank that joins no subgroup.
    package func cancel() { cancelBody() }
}

/// Transports that can make subgroups of their ranks.
package protocol SubgroupCapable: Transport {
    /// Whether ``prepareSubgroup()`` can succeed here (a transport routed over RDMA verbs cannot).
    var canMakeSubgroups: Bool { get }
    /// Prepares this rank's side of a new subgroup transport.
    func prepareSubgroup() throws(TransportError) -> SubgroupPlan
}

extension SubgroupCapable {
    package var canMakeSubgroups: Bool { true }
}

extension SingleRankTransport: SubgroupCapable {
    package func prepareSubgroup() throws(TransportError) -> SubgroupPlan {
        SubgroupPlan(endpoint: [], connect: { _, _, _, _ in SingleRankTransport() }, cancel: {})
    }
}

extension InProcessTransport: SubgroupCapable {
    package func prepareSubgroup() throws(TransportError) -> SubgroupPlan {
        let fabric = self.fabric
        return SubgroupPlan(endpoint: [], connect: { id, rank, endpoints, _ in
            InProcessTransport(rank: rank, fabric: fabric.child(id: id, worldSize: endpoints.count))
        }, cancel: {})
    }
}

extension TCPTransport: SubgroupCapable {
    /// Listens on the address this rank's existing connections use, port chosen by the system.
    package func prepareSubgroup() throws(TransportError) -> SubgroupPlan {
        let listener: Socket
        do {
            var address = try localAddress()
            address.port = 0
            listener = try Socket.listen(on: address)
            let listening = try listener.localAddress()
            var settings = self.options
            settings.waitPolicy = waitPolicy
            let options = settings
            let jobID = self.jobID, logger = self.logger
            let boxed = SocketBox(listener)
            return SubgroupPlan(endpoint: Array(listening.description.utf8), connect: { id, rank, endpoints, deadline throws(TransportError) in
                defer { boxed.socket.close() }
                var addresses: [SocketAddress] = []
                for (member, bytes) in endpoints.enumerated() {
                    guard let address = SocketAddress(parsing: String(decoding: bytes, as: UTF8.self)) else {
                        throw TransportError(.protocolViolation("subgroup member \(member) sent a bad address"),
                                             rank: rank, peer: member, operation: "subgroup set-up")
                    }
                    addresses.append(address)
                }
                // Hellos carry the subgroup's own job id, so no connection can stray between groups.
                return try TCPTransport.establish(rank: rank, worldSize: endpoints.count, jobID: mix(jobID, id), listener: boxed.socket,
                                                  peerAddresses: addresses, options: options, deadline: deadline, logger: logger)
            }, cancel: { boxed.socket.close() })
        } catch {
            throw TransportError(error, rank: rank, peer: nil, operation: "subgroup set-up")
        }
    }
}

/// A listening socket handed to the closures of a ``SubgroupPlan``.
private final class SocketBox: @unchecked Sendable {
    let socket: Socket
    init(_ socket: Socket) { self.socket = socket }
}

/// Mixes a subgroup id into a job id (splitmix64), so that each subgroup has its own.
func mix(_ jobID: UInt64, _ id: UInt64) -> UInt64 {
    var z = jobID &+ id &* 0x9E37_79B9_7F4A_7C15
    z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
    z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
    return z ^ (z >> 31)
}
