#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Standard output and error, written straight to their descriptors (no stdio buffer).
package enum StandardStreams {
    /// Writes every byte of `bytes` to `descriptor` (1: output, 2: error), retrying on `EINTR`;
    /// stops quietly when the stream is gone (nobody to tell).
    package static func write(_ bytes: UnsafeRawBufferPointer, to descriptor: Int32) {
        Descriptors.writeAll(descriptor, bytes)
    }

    /// Whether `descriptor` is a terminal.
    package static func isTerminal(_ descriptor: Int32) -> Bool { isatty(descriptor) != 0 }
}
