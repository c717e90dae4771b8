import Synchronization

/// A count of the threads parked in one transport's wait loop or one store's wait: what tests
/// observe to know a waiter is parked before they wake it.
package final class WaiterGauge: Sendable {
    private let count = Atomic<Int>(0)

    package init() {}

    package var value: Int { count.load(ordering: .acquiring) }

    /// Counts the caller as parked, until it calls ``leave()``.
    @inline(__always)
    package func enter() { count.add(1, ordering: .releasing) }

    @inline(__always)
    package func leave() { count.subtract(1, ordering: .releasing) }
}
