#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// What a descriptor is waited for, or what `poll(2)` found on it.
package struct PollEvents: OptionSet, Sendable {
    package let rawValue: Int16
    package init(rawValue: Int16) { self.rawValue = rawValue }

    /// Bytes to read (or the end of the stream).
    package static let readable = PollEvents(rawValue: Int16(POLLIN))
    /// Room to write.
    package static let writable = PollEvents(rawValue: Int16(POLLOUT))
    /// The peer shut its side down (`POLLRDHUP`).
    package static let peerShutDown = PollEvents(rawValue: 0x2000)
    /// An error on the descriptor (reported whether asked for or not).
    package static let error = PollEvents(rawValue: Int16(POLLERR))
}

/// Descriptors to wait on together with one `poll(2)`; kept between waits so that filling it
/// allocates nothing once it has grown.
package struct PollSet {
    private var entries: [pollfd] = []

    package init() {}

    /// How many descriptors are in the set.
    package var count: Int { entries.count }

    /// Empties the set, keeping its storage.
    package mutating func removeAll() { entries.removeAll(keepingCapacity: true) }

    /// Adds `descriptor`, waited for `events`.
    package mutating func add(_ descriptor: Int32, waitingFor events: PollEvents) {
        entries.append(pollfd(fd: descriptor, events: events.rawValue, revents: 0))
    }

    /// What the last wait found on the entry at `index` (nothing when it timed out or failed).
    package func found(at index: Int) -> PollEvents { PollEvents(rawValue: entries[index].revents) }

    /// Waits until a descriptor is ready or `timeoutNanoseconds` pass (`UInt64.max`-like values:
    /// no limit), rounded up to whole milliseconds so that it does not return just before a
    /// deadline and spin. A signal or an error ends the wait with nothing found.
    package mutating func wait(timeoutNanoseconds: UInt64) {
        let milliseconds = timeoutNanoseconds >= UInt64(Int32.max) * 1_000_000 ? -1 : Int32((timeoutNanoseconds + 999_999) / 1_000_000)
        let count = nfds_t(entries.count)
        let found = entries.withUnsafeMutableBufferPointer { poll($0.baseAddress, count, milliseconds) }
        if found <= 0 {
            for index in entries.indices { entries[index].revents = 0 }
        }
    }
}

/// Whether `descriptor` is readable right now, or cannot be polled (a pidfd is readable once
/// its process has exited).
package func isReadableNow(_ descriptor: Int32) -> Bool {
    var entry = pollfd(fd: descriptor, events: Int16(POLLIN), revents: 0)
    return poll(&entry, 1, 0) != 0
}
