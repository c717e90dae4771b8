#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A point in time on the monotonic clock by which a blocking operation must finish.
///
/// Every blocking call in swift-collectives takes a deadline rather than a timeout, so that a
/// sequence of calls made on behalf of one operation shares a single time budget.
///
/// ```swift
/// let deadline = Deadline.after(seconds: 30)
/// try socket.connect(to: address, deadline: deadline)
/// try socket.receiveAll(into: buffer, deadline: deadline)
/// ```
public struct Deadline: Sendable, Hashable, Comparable, CustomStringConvertible {
    /// Nanoseconds on `CLOCK_MONOTONIC`.
    public let uptimeNanoseconds: UInt64

    @inlinable
    public init(uptimeNanoseconds: UInt64) {
        self.uptimeNanoseconds = uptimeNanoseconds
    }

    /// The current time.
    @inlinable
    public static var now: Deadline { Deadline(uptimeNanoseconds: MonotonicClock.nanoseconds) }

    /// The current time as the clock's last tick saw it: up to a tick (a few milliseconds) behind
    /// ``now``, never ahead, at a fraction of its cost (about 6 ns against 29 ns here). For the
    /// start of a deadline seconds away, read on every call of a hot path.
    @inlinable
    package static var coarseNow: Deadline {
        var ts = timespec()
        clock_gettime(CLOCK_MONOTONIC_COARSE, &ts)
        return Deadline(uptimeNanoseconds: UInt64(ts.tv_sec) &* 1_000_000_000 &+ UInt64(ts.tv_nsec))
    }

    /// A deadline that never passes.
    public static let never = Deadline(uptimeNanoseconds: .max)

    /// The deadline `seconds` from now; non-positive values give a deadline that has already passed.
    public static func after(seconds: Double) -> Deadline { after(seconds: seconds, from: .now) }

    /// The deadline `seconds` after `start` (a time read from ``now``), for a caller that has just
    /// read the clock for something else.
    public static func after(seconds: Double, from start: Deadline) -> Deadline {
        guard seconds.isFinite else { return seconds > 0 ? .never : start }
        if seconds <= 0 { return start }
        let nanos = seconds * 1e9
        if nanos >= Double(UInt64.max / 2) { return .never }
        let (sum, overflow) = start.uptimeNanoseconds.addingReportingOverflow(UInt64(nanos))
        return Deadline(uptimeNanoseconds: overflow ? .max : sum)
    }

    /// Whether the deadline is in the past.
    public var hasPassed: Bool { self != .never && Deadline.now >= self }

    /// Seconds left, zero once passed.
    public var remainingSeconds: Double {
        if self == .never { return .infinity }
        let now = Deadline.now.uptimeNanoseconds
        return uptimeNanoseconds > now ? Double(uptimeNanoseconds - now) / 1e9 : 0
    }

    /// Milliseconds left as `poll(2)` wants them: -1 for never, at least 0, rounded up so that a
    /// poll does not return just before the deadline and cause a busy loop.
    package var pollTimeoutMilliseconds: Int32 {
        if self == .never { return -1 }
        let now = Deadline.now.uptimeNanoseconds
        guard uptimeNanoseconds > now else { return 0 }
        let ms = (uptimeNanoseconds - now + 999_999) / 1_000_000
        return ms > UInt64(Int32.max) ? Int32.max : Int32(ms)
    }

    /// The earlier of two deadlines.
    public func earlier(_ other: Deadline) -> Deadline { Swift.min(self, other) }

    public static func < (lhs: Deadline, rhs: Deadline) -> Bool {
        lhs.uptimeNanoseconds < rhs.uptimeNanoseconds
    }

    public var description: String {
        self == .never ? "never" : "in \(remainingSeconds) s"
    }
}
