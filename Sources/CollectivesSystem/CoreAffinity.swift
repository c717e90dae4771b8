import CCollectivesShim

#if canImport(Glibc)
import Glibc
#endif

/// The cores the calling thread may run on (its affinity mask), in order; empty if unknown.
package func allowedCores() -> [Int] {
    var cores = [Int32](repeating: 0, count: 4096)
    let count = collectives_allowed_cores(&cores, Int32(cores.count))
    return count > 0 ? cores.prefix(Int(count)).map(Int.init) : []
}

/// Runs `body` with the calling thread bound to `core`, then lets it run on its own cores
/// again: a process spawned meanwhile starts bound to `core` (a child inherits the mask of the
/// thread that made it).
package func withThreadBound<R>(to core: Int, _ body: () throws -> R) throws -> R {
    let own = allowedCores().map(Int32.init)
    guard collectives_bind_thread(Int32(core)) == 0 else { throw SystemError(call: "sched_setaffinity(core \(core))", errno: errno) }
    defer { _ = collectives_unbind_thread(own, Int32(own.count)) }
    return try body()
}

/// The processors online on this host (at least 1).
package var onlineProcessorCount: Int { max(1, Int(sysconf(Int32(_SC_NPROCESSORS_ONLN)))) }
