import CollectivesSystem

/// Fixed slots for the state of posted requests, reused so that posting allocates nothing once
/// the table has grown to the number of requests in flight.
///
/// Not thread-safe: the owning transport guards it.
struct RequestTable {
    enum State {
        case free
        case pending
        case done
        case failed(TransportError)
    }

    private var states: [State] = []
    private var generations: [UInt32] = []
    private var freeSlots: [Int32] = []

    init(capacity: Int = 64) {
        states.reserveCapacity(capacity)
        generations.reserveCapacity(capacity)
        freeSlots.reserveCapacity(capacity)
    }

    mutating func allocate() -> (slot: Int, request: TransportRequest) {
        let slot: Int
        if let reused = freeSlots.popLast() {
            slot = Int(reused)
        } else {
            slot = states.count
            states.append(.free)
            generations.append(0)
        }
        states[slot] = .pending
        return (slot, TransportRequest(rawValue: UInt64(generations[slot]) << 32 | UInt64(slot)))
    }

    /// The slot of a live request, or `nil` for a spent or unknown handle.
    func slot(of request: TransportRequest) -> Int? {
        let slot = Int(request.rawValue & 0xffff_ffff)
        guard slot < states.count, generations[slot] == UInt32(request.rawValue >> 32) else { return nil }
        if case .free = states[slot] { return nil }
        return slot
    }

    func state(_ slot: Int) -> State { states[slot] }

    mutating func complete(_ slot: Int) {
        if case .pending = states[slot] { states[slot] = .done }
    }

    mutating func fail(_ slot: Int, _ error: TransportError) {
        if case .pending = states[slot] { states[slot] = .failed(error) }
    }

    /// Frees a finished slot; its handle becomes stale.
    mutating func release(_ slot: Int) {
        states[slot] = .free
        generations[slot] &+= 1
        freeSlots.append(Int32(slot))
    }

    /// What a waiter does with a request: `true` once it succeeded (the slot is released), an
    /// error once it failed (released too), `false` while it is still pending.
    mutating func settle(_ slot: Int) throws(TransportError) -> Bool {
        switch states[slot] {
        case .done:
            release(slot)
            return true
        case .failed(let error):
            release(slot)
            throw error
        case .pending, .free:
            return false
        }
    }

    /// Fails every pending request.
    mutating func failAll(_ error: (Int) -> TransportError) {
        for slot in states.indices {
            if case .pending = states[slot] { states[slot] = .failed(error(slot)) }
        }
    }
}
