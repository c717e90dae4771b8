#if canImport(Glibc)
import Glibc
#endif

/// The time of day, for records that ranks on different hosts compare (a flight recorder's
/// timestamps), as opposed to ``Deadline``'s monotonic clock, which only orders one host's events.
package enum WallClock {
    /// Nanoseconds since the Unix epoch (`CLOCK_REALTIME`).
    package static var nanosecondsSinceEpoch: UInt64 {
        var ts = timespec()
        clock_gettime(CLOCK_REALTIME, &ts)
        return UInt64(ts.tv_sec) &* 1_000_000_000 &+ UInt64(ts.tv_nsec)
    }

    /// As ``nanosecondsSinceEpoch``, to the last clock tick (a few milliseconds; about a third
    /// of the cost to read).
    package static var coarseNanosecondsSinceEpoch: UInt64 {
        var ts = timespec()
        clock_gettime(CLOCK_REALTIME_COARSE, &ts)
        return UInt64(ts.tv_sec) &* 1_000_000_000 &+ UInt64(ts.tv_nsec)
    }
}

/// This process's id.
package var thisProcessID: Int32 { getpid() }
