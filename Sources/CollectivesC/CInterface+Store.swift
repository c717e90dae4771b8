import CCollectivesAPI
import Collectives
import CollectivesRendezvous
import CollectivesSystem

/// A `Store` whose calls are the program's C callbacks (`collStore_t`): how a binding's own store
/// (PyTorch's, say) serves the rendezvous, so that no second port is needed.
final class CallbackStore: Store, @unchecked Sendable {
    private let callbacks: collStore_t

    init(_ callbacks: collStore_t) { self.callbacks = callbacks }

    /// The error of a callback that returned `code` (1 is a timeout where the call waits).
    private func failure(_ operation: String, _ keys: [String], _ code: Int32, waits: Bool = false) -> RendezvousError {
        code == 1 && waits ? .timedOut(operation: "the program's store: \(operation)", keys: keys)
            : .storeCallbackFailed(operation: operation, key: keys.joined(separator: ", "), code: code)
    }

    private static func seconds(until deadline: Deadline) -> Double {
        deadline == .never ? 1e10 : Swift.max(0, deadline.remainingSeconds)
    }

    func set(_ key: String, _ value: [UInt8]) throws(RendezvousError) {
        guard let set = callbacks.set else { throw .storeCallbackFailed(operation: "set", key: key, code: -1) }
        let code = value.withUnsafeBytes { bytes in set(callbacks.context, key, bytes.baseAddress, bytes.count) }
        if code != 0 { throw failure("set", [key], code) }
    }

    func get(_ key: String, deadline: Deadline) throws(RendezvousError) -> [UInt8] {
        guard let get = callbacks.get else { throw .storeCallbackFailed(operation: "get", key: key, code: -1) }
        var value: UnsafeMutableRawPointer?
        var length = 0
        let code = get(callbacks.context, key, &value, &length, Self.seconds(until: deadline))
        defer { freeCAllocation(value) }
        if code != 0 { throw failure("get", [key], code, waits: true) }
        guard let value else { return [] }
        return Array(UnsafeRawBufferPointer(start: value, count: length))
    }

    func add(_ key: String, _ delta: Int64) throws(RendezvousError) -> Int64 {
        guard let add = callbacks.add else { throw .storeCallbackFailed(operation: "add", key: key, code: -1) }
        var result: Int64 = 0
        let code = add(callbacks.context, key, delta, &result)
        if code != 0 { throw failure("add", [key], code) }
        return result
    }

    func wait(_ keys: [String], deadline: Deadline) throws(RendezvousError) {
        guard let wait = callbacks.wait else { throw .storeCallbackFailed(operation: "wait", key: keys.first ?? "", code: -1) }
        let code = Self.withCStrings(keys) { wait(callbacks.context, $0, keys.count, Self.seconds(until: deadline)) }
        if code != 0 { throw failure("wait", keys, code, waits: true) }
    }

    func check(_ keys: [String]) throws(RendezvousError) -> Bool {
        guard let check = callbacks.check else { throw .storeCallbackFailed(operation: "check", key: keys.first ?? "", code: -1) }
        var present: Int32 = 0
        let code = Self.withCStrings(keys) { check(callbacks.context, $0, keys.count, &present) }
        if code != 0 { throw failure("check", keys, code) }
        return present != 0
    }

    /// Calls `body` with the keys as an array of C strings, valid during the call.
    private static func withCStrings<R>(_ keys: [String], _ body: (UnsafePointer<UnsafePointer<CChar>?>) -> R) -> R {
        let copies = keys.map { key -> UnsafeMutablePointer<CChar> in
            let bytes = key.utf8CString
            let copy = UnsafeMutablePointer<CChar>.allocate(capacity: bytes.count)
            bytes.withUnsafeBufferPointer { copy.initialize(from: $0.baseAddress!, count: bytes.count) }
            return copy
        }
        defer { copies.forEach { $0.deallocate() } }
        let pointers: [UnsafePointer<CChar>?] = copies.map { UnsafePointer($0) }
        return pointers.withUnsafeBufferPointer { body($0.baseAddress!) }
    }
}

@_cdecl("collCommInitWithStore")
public func cCommInitWithStore(_ comm: UnsafeMutablePointer<OpaquePointer?>?, _ rank: Int32, _ count: Int32,
                               _ store: UnsafePointer<collStore_t>?, _ timeoutSeconds: Double) -> collResult_t {
    guard let comm else { return CResults.invalid("collCommInitWithStore", "comm is NULL") }
    comm.pointee = nil
    guard let store else { return CResults.invalid("collCommInitWithStore", "store is NULL") }
    guard timeoutSeconds > 0, timeoutSeconds.isFinite else {
        return CResults.invalid("collCommInitWithStore", "timeout_seconds \(timeoutSeconds) is not a positive number")
    }
    var options = CommunicatorOptions()
    options.timeoutSeconds = timeoutSeconds
    let callbacks = CallbackStore(store.pointee)
    return CResults.run { () throws(CollectivesError) in
        try options.applyTuning(from: ProcessEnvironment.current())
        comm.pointee = CHandles.make(try Communicator(store: callbacks, rank: Int(rank), worldSize: Int(count), options: options))
    }
}
