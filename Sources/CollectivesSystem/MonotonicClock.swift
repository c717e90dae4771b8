#if canImport(Glibc)
import Glibc
#endif

/// The clock the package measures time with: `CLOCK_MONOTONIC`, in nanoseconds, which never
/// goes back and does not count time asleep. Intervals (how long a call, a step or a probe
/// took) are read here; a time by which something must finish is a ``Deadline`` on the same
/// clock.
@usableFromInline
package enum MonotonicClock {
    /// Nanoseconds now.
    @inlinable
    package static var nanoseconds: UInt64 {
        var ts = timespec()
        clock_gettime(CLOCK_MONOTONIC, &ts)
        return UInt64(ts.tv_sec) &* 1_000_000_000 &+ UInt64(ts.tv_nsec)
    }

    /// Nanoseconds since `start` (read from ``nanoseconds``).
    @inlinable
    package static func nanoseconds(since start: UInt64) -> UInt64 { nanoseconds &- start }

    /// Seconds since `start` (read from ``nanoseconds``).
    @inlinable
    package static func seconds(since start: UInt64) -> Double { Double(nanoseconds &- start) / 1e9 }
}
