#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import CCollectivesShim

/// A pipe: bytes written to one end are read from the other. Both ends close on `exec`.
package struct Pipe: Sendable {
    package let readEnd: Int32
    package let writeEnd: Int32

    /// Makes one.
    package static func make() throws(SystemError) -> Pipe {
        var ends: [Int32] = [-1, -1]
        guard collectives_pipe_cloexec(&ends) == 0 else { throw SystemError(call: "pipe2", errno: errno) }
        return Pipe(readEnd: ends[0], writeEnd: ends[1])
    }

    /// Closes both ends.
    package func close() {
        Descriptors.close(readEnd)
        Descriptors.close(writeEnd)
    }
}

/// Calls on open file descriptors (pipes, files, standard streams).
package enum Descriptors {
    /// Closes `descriptor` (a negative one is none).
    package static func close(_ descriptor: Int32) {
        if descriptor >= 0 { _ = Glibc.close(descriptor) }
    }

    /// One `read(2)` of up to `buffer.count` bytes: `.done(0)` at the end, `.wouldBlock` when a
    /// non-blocking descriptor has nothing yet.
    package static func readSome(_ descriptor: Int32, into buffer: UnsafeMutableRawBufferPointer) throws(SystemError) -> IOResult<Int> {
        try systemCall("read") { Glibc.read(descriptor, buffer.baseAddress, buffer.count) }
    }

    /// Writes every byte of `bytes`, retrying on `EINTR`. A write that takes nothing ends it as
    /// `EIO` (no progress is possible).
    package static func write(every bytes: UnsafeRawBufferPointer, to descriptor: Int32) throws(SystemError) {
        guard let base = bytes.baseAddress else { return }
        var offset = 0
        while offset < bytes.count {
            let written = try systemCallBlocking("write") { Glibc.write(descriptor, base + offset, bytes.count - offset) }
            guard written > 0 else { throw SystemError(call: "write", errno: EIO) }
            offset += written
        }
    }

    /// Writes every byte of `bytes`; whether it could (a closed pipe or a full disk stops it).
    @discardableResult
    package static func writeAll(_ descriptor: Int32, _ bytes: UnsafeRawBufferPointer) -> Bool {
        (try? write(every: bytes, to: descriptor)) != nil
    }

    /// Whether `descriptor` is a terminal.
    package static func isTerminal(_ descriptor: Int32) -> Bool { isatty(descriptor) != 0 }
}
