import CollectivesSystem

/// A small key-value store through which the ranks of a job find each other.
///
/// Values are bytes; keys are strings. `get` and `wait` block until the keys exist or the
/// deadline passes. Implementations: ``TCPStore`` (served by a ``TCPStoreServer``, by rank 0 or
/// standalone), ``FileStore`` (a shared directory), ``InMemoryStore`` (threads of one process),
/// and ``PrefixStore`` (a namespace inside another store).
public protocol Store: Sendable {
    /// Sets `key` to `value`, waking anyone waiting for it.
    func set(_ key: String, _ value: [UInt8]) throws(RendezvousError)
    /// The value of `key`, waiting until it is set or `deadline` passes.
    func get(_ key: String, deadline: Deadline) throws(RendezvousError) -> [UInt8]
    /// Adds `delta` to the integer at `key` (missing counts as 0) and returns the new value.
    func add(_ key: String, _ delta: Int64) throws(RendezvousError) -> Int64
    /// Waits until every key in `keys` is set, or `deadline` passes.
    func wait(_ keys: [String], deadline: Deadline) throws(RendezvousError)
    /// Whether every key in `keys` is set, without waiting.
    func check(_ keys: [String]) throws(RendezvousError) -> Bool
}

extension Store {
    /// Sets `key` to the UTF-8 bytes of `value`.
    public func set(_ key: String, string value: String) throws(RendezvousError) {
        try set(key, Array(value.utf8))
    }

    /// The value of `key` as UTF-8 text.
    public func getString(_ key: String, deadline: Deadline) throws(RendezvousError) -> String {
        String(decoding: try get(key, deadline: deadline), as: UTF8.self)
    }
}

/// Keys of another store under `prefix/`, so that groups (sub-communicators, repeated
/// rendezvous) do not collide.
public struct PrefixStore: Store {
    public let prefix: String
    public let base: any Store

    public init(prefix: String, base: any Store) {
        self.prefix = prefix
        self.base = base
    }

    /// The store under any number of prefixes: `store` itself unless it is a `PrefixStore`.
    package static func innermost(_ store: any Store) -> any Store {
        var root = store
        while let prefixed = root as? PrefixStore { root = prefixed.base }
        return root
    }

    private func key(_ k: String) -> String { "\(prefix)/\(k)" }

    public func set(_ key: String, _ value: [UInt8]) throws(RendezvousError) { try base.set(self.key(key), value) }
    public func get(_ key: String, deadline: Deadline) throws(RendezvousError) -> [UInt8] {
        try base.get(self.key(key), deadline: deadline)
    }
    public func add(_ key: String, _ delta: Int64) throws(RendezvousError) -> Int64 { try base.add(self.key(key), delta) }
    public func wait(_ keys: [String], deadline: Deadline) throws(RendezvousError) {
        try base.wait(keys.map(key), deadline: deadline)
    }
    public func check(_ keys: [String]) throws(RendezvousError) -> Bool { try base.check(keys.map(key)) }
}
