import CollectivesSystem

/// Fixed slots for the state of posted requests, reused so that posting allocates nothing once
/// the table has grown to the number of requests in flight.
///
/// Every change names the whole request (slot and generation), not the slot alone: a completion
/// or failure that arrives for a request whose slot was since released and given to another
/// request is ignored instead of completing the wrong one.
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

    /// A new pending request.
    mutating func allocate() -> TransportRequest {
        let slot: Int
        if let reused = freeSlots.popLast() {
            slot = Int(reused)
        } else {
            slot = states.count
            states.append(.free)
            generations.append(0)
        }
        states[slot] = .pending
        return TransportRequest(rawValue: UInt64(generations[slot]) << 32 | UInt64(slot))
    }

    @inline(__always)
    static func slot(_ request: TransportRequest) -> Int { Int(request.rawValue & 0xffff_ffff) }

    /// The slot of a live request, or `nil` for a spent, stale or unknown handle.
    func slot(of request: TransportRequest) -> Int? {
        let slot = Self.slot(request)
        guard slot < states.count, generations[slot] == UInt32(truncatingIfNeeded: request.rawValue >> 32) else { return nil }
        if case .free = states[slot] { return nil }
        return slot
    }

    /// Whether the request is live and still pending.
    func isPending(_ request: TransportRequest) -> Bool {
        guard let slot = slot(of: request), case .pending = states[slot] else { return false }
        return true
    }

    /// Marks the request done, if it is still this request and pending.
    mutating func complete(_ request: TransportRequest) {
        guard let slot = slot(of: request), case .pending = states[slot] else { return }
        states[slot] = .done
    }

    /// Marks the request failed, if it is still this request and pending.
    mutating func fail(_ request: TransportRequest, _ error: TransportError) {
        guard let slot = slot(of: request), case .pending = states[slot] else { return }
        states[slot] = .failed(error)
    }

    /// Frees a slot; its handle becomes stale.
    mutating func release(_ slot: Int) {
        states[slot] = .free
        generations[slot] &+= 1
        freeSlots.append(Int32(slot))
    }

    /// What a waiter does with a request: `true` once it succeeded (the slot is released), an
    /// error once it failed (released too), `false` while it is still pending.
    @inline(__always)
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

    /// Fails every pending request with `error`.
    mutating func failAll(_ error: TransportError) {
        for slot in states.indices {
            if case .pending = states[slot] { states[slot] = .failed(error) }
        }
    }
}
