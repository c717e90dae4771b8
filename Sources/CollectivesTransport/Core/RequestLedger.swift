import CollectivesSystem

/// The engine's record of every posted request, which its media complete and fail: the request
/// table, and per live request the group rank it concerns, whether it is a send, the medium that
/// carries it and how many parts of it (TCP stripes) are still to move.
///
/// Media number ranks their own way (shared memory counts the ranks of one host); the ledger
/// renumbers the errors a medium fails a request with into the group's ranks, so every error
/// that leaves the engine names ranks of the group.
///
/// Not thread-safe: the engine's lock guards it, and media touch it only with that lock held.
struct RequestLedger {
    private var table = RequestTable(capacity: 256)
    private var peers: [Int32] = []
    private var sends: [Bool] = []
    private var carriers: [UInt8] = []
    private var partsLeft: [Int32] = []
    /// By medium: the group's rank of each of the medium's ranks, `nil` where they are the same.
    private var groupRanks: [[Int]?] = []

    init() {
        peers.reserveCapacity(256)
        sends.reserveCapacity(256)
        carriers.reserveCapacity(256)
        partsLeft.reserveCapacity(256)
    }

    /// Registers a medium whose rank *i* is group rank `members[i]` (`nil`: the same numbering).
    mutating func addMedium(numbering members: [Int]?) {
        groupRanks.append(members)
    }

    /// A new pending request of one part with group rank `peer`, carried by `medium`.
    mutating func open(peer: Int, isSend: Bool, medium: Int) -> TransportRequest {
        let request = table.allocate()
        let slot = RequestTable.slot(request)
        if slot == peers.count {
            peers.append(Int32(peer))
            sends.append(isSend)
            carriers.append(UInt8(medium))
            partsLeft.append(1)
        } else {
            peers[slot] = Int32(peer)
            sends[slot] = isSend
            carriers[slot] = UInt8(medium)
            partsLeft[slot] = 1
        }
        return request
    }

    /// Forgets a request its medium refused to queue.
    mutating func discard(_ request: TransportRequest) {
        if let slot = table.slot(of: request) { table.release(slot) }
    }

    /// Makes `request` complete only after `parts` calls of ``complete(_:)``.
    mutating func split(_ request: TransportRequest, into parts: Int) {
        partsLeft[RequestTable.slot(request)] = Int32(parts)
    }

    /// One part of `request` has moved; the request completes with its last part.
    @inline(__always)
    mutating func complete(_ request: TransportRequest) {
        guard table.isPending(request) else { return }
        let slot = RequestTable.slot(request)
        partsLeft[slot] -= 1
        if partsLeft[slot] <= 0 { table.complete(request) }
    }

    /// Fails `request` with a medium's `error`, renumbered into the group's ranks.
    mutating func fail(_ request: TransportRequest, _ error: TransportError) {
        guard let slot = table.slot(of: request) else { return }
        table.fail(request, renumbered(error, medium: Int(carriers[slot])))
    }

    /// Fails every pending request with `error` (already in the group's numbering).
    mutating func failAll(_ error: TransportError) { table.failAll(error) }

    /// The slot of a live request, or `nil` for a spent, stale or unknown handle.
    func slot(of request: TransportRequest) -> Int? { table.slot(of: request) }

    /// `true` once the request in `slot` succeeded, its error once it failed (both release the
    /// slot), `false` while pending.
    @inline(__always)
    mutating func settle(_ slot: Int) throws(TransportError) -> Bool { try table.settle(slot) }

    /// Whether the request is a send.
    func isSend(_ request: TransportRequest) -> Bool { sends[RequestTable.slot(request)] }

    /// The group rank and the medium of the request in `slot`.
    func route(ofSlot slot: Int) -> (peer: Int, isSend: Bool, medium: Int) {
        (Int(peers[slot]), sends[slot], Int(carriers[slot]))
    }

    /// A medium's error with the group's rank numbers.
    func renumbered(_ error: TransportError, medium: Int) -> TransportError {
        guard medium < groupRanks.count, let members = groupRanks[medium] else { return error }
        func map(_ local: Int) -> Int { local >= 0 && local < members.count ? members[local] : local }
        if var mismatch = error.mismatch {
            mismatch.sender = map(mismatch.sender)
            mismatch.receiver = map(mismatch.receiver)
            return mismatch.error(operation: error.operation, peerAddress: error.peerAddress)
        }
        return TransportError(error.kind, rank: map(error.rank), peer: error.peer.map(map), operation: error.operation,
                              peerAddress: error.peerAddress)
    }
}
