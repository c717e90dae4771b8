import CollectivesSystem

/// A store shared by the threads of one process: for tests, and for ranks run as threads.
public final class InMemoryStore: Store, @unchecked Sendable {
    private let lock = ConditionLock()
    private var values: [String: [UInt8]] = [:]
    private var closed = false
    /// The threads waiting in ``get(_:deadline:)`` or ``wait(_:deadline:)`` for a key.
    package let gauge = WaiterGauge()

    public init() {}

    /// Wakes every thread waiting in ``get(_:deadline:)`` or ``wait(_:deadline:)`` with
    /// ``RendezvousError/storeClosed(operation:)``; later waits for missing keys fail the same way.
    public func close() {
        lock.withLock {
            closed = true
            lock.broadcast()
        }
    }

    public func set(_ key: String, _ value: [UInt8]) throws(RendezvousError) {
        lock.withLock {
            values[key] = value
            lock.broadcast()
        }
    }

    public func get(_ key: String, deadline: Deadline) throws(RendezvousError) -> [UInt8] {
        lock.lock()
        defer { lock.unlock() }
        if let value = values[key] { return value }
        gauge.enter()
        defer { gauge.leave() }
        while true {
            if let value = values[key] { return value }
            if closed { throw .storeClosed(operation: "get") }
            if !lock.wait(until: deadline), deadline.hasPassed {
                throw .timedOut(operation: "get", keys: [key])
            }
        }
    }

    public func add(_ key: String, _ delta: Int64) throws(RendezvousError) -> Int64 {
        lock.withLock {
            let current = values[key].flatMap { Int64(String(decoding: $0, as: UTF8.self)) } ?? 0
            let next = current &+ delta
            values[key] = Array(String(next).utf8)
            lock.broadcast()
            return next
        }
    }

    public func wait(_ keys: [String], deadline: Deadline) throws(RendezvousError) {
        lock.lock()
        defer { lock.unlock() }
        gauge.enter()
        defer { gauge.leave() }
        while true {
            let missing = keys.filter { values[$0] == nil }
            if missing.isEmpty { return }
            if closed { throw .storeClosed(operation: "wait") }
            if !lock.wait(until: deadline), deadline.hasPassed {
                throw .timedOut(operation: "wait", keys: missing)
            }
        }
    }

    public func check(_ keys: [String]) throws(RendezvousError) -> Bool {
        lock.withLock { keys.allSatisfy { values[$0] != nil } }
    }
}
