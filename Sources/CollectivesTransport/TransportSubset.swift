import CollectivesSystem

/// Some ranks of another transport as a group of their own: rank *i* of the subset is rank
/// `members[i]` of the base. What hierarchical algorithms run on (the ranks of one host, or one
/// rank of every host) and what ranks ordered host by host form.
///
/// Messages travel over the base's connections with the caller's tags, so a subset adds no
/// connection and no copy. Errors keep the base's rank numbers. The subset owns nothing:
/// ``close()`` leaves the base open (``fail(_:)`` fails it, as any failure must).
package final class TransportSubset: Transport, @unchecked Sendable {
    /// The transport whose ranks these are.
    package let base: any Transport
    /// The base's rank of each member, by subset rank.
    package let members: [Int]
    package let rank: Int
    package var worldSize: Int { members.count }
    package var name: String { base.name }

    /// The subset `members` (distinct ranks of `base`, in the order they are to be numbered);
    /// `nil` unless the base's own rank is one of them.
    package init?(base: any Transport, members: [Int]) {
        guard let rank = members.firstIndex(of: base.rank),
              Set(members).count == members.count,
              members.allSatisfy({ $0 >= 0 && $0 < base.worldSize }) else { return nil }
        self.base = base
        self.members = members
        self.rank = rank
    }

    private func member(_ peer: Int, _ operation: TransportOperation) throws(TransportError) -> Int {
        guard peer >= 0, peer < members.count else {
            throw TransportError(.invalidArgument("peer \(peer) is outside the subset's 0..<\(members.count)"),
                                 rank: base.rank, peer: nil, operation: operation)
        }
        return members[peer]
    }

    package func postSend(_ buffer: UnsafeRawBufferPointer, to peer: Int, tag: MessageTag) throws(TransportError) -> TransportRequest {
        try base.postSend(buffer, to: member(peer, "send"), tag: tag)
    }

    package func postReceive(into buffer: UnsafeMutableRawBufferPointer, from peer: Int, tag: MessageTag) throws(TransportError) -> TransportRequest {
        try base.postReceive(into: buffer, from: member(peer, "receive"), tag: tag)
    }

    package func wait(_ request: TransportRequest, deadline: Deadline) throws(TransportError) {
        try base.wait(request, deadline: deadline)
    }

    /// Leaves the base open: the subset owns nothing.
    package func close() {}

    package func fail(_ error: TransportError) { base.fail(error) }
}
