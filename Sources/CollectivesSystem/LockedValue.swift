/// A value behind a `pthread` mutex (``ConditionLock``), for state that threads share through a
/// `static let` or a captured reference. A `Mutex` there is accessed as a modification of the
/// variable holding it, which ThreadSanitizer's exclusivity checks report as a race between the
/// threads that lock it.
package final class LockedValue<Value>: @unchecked Sendable {
    private let lock = ConditionLock()
    private var value: Value

    package init(_ value: Value) { self.value = value }

    package func withLock<R>(_ body: (inout Value) throws -> R) rethrows -> R {
        lock.lock()
        defer { lock.unlock() }
        return try body(&value)
    }
}
