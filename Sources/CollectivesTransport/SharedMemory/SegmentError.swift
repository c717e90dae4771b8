import CollectivesSystem

/// Why a rank could not make its shared-memory segment.
package enum SegmentError: Error, Sendable, CustomStringConvertible {
    /// A system call failed.
    case system(SystemError)
    /// `/dev/shm` has less room than the segment needs (its pages are reserved at set-up, so that
    /// a full `/dev/shm` is this error instead of a SIGBUS later).
    case noRoom(needed: Int, free: Int)

    package var description: String {
        switch self {
        case .system(let error):
            return "\(error)"
        case .noRoom(let needed, let free):
            return "/dev/shm has \(free) bytes free, this rank's rings need \(needed): give /dev/shm more room "
                + "(docker run --shm-size=1g, or mount -o remount,size=... /dev/shm), run fewer ranks per host, "
                + "or set COLLECTIVES_TRANSPORT=tcp"
        }
    }

    /// The transport error kind it becomes.
    var transportKind: TransportError.Kind {
        switch self {
        case .system(let error): .system(error)
        case .noRoom(let needed, let free): .system(.noSpace(call: "posix_fallocate(\(needed) bytes; /dev/shm has \(free) free)"))
        }
    }
}
