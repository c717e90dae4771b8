import Synchronization

#if canImport(Glibc)
import Glibc
#endif

/// Where log lines go: standard error, or a file opened for appending; whole lines, one writer
/// at a time, so that lines of different threads never interleave.
package final class LogOutput: Sendable {
    private let descriptor: Int32
    private let lock = ConditionLock()

    /// Standard error.
    package static let standardError = LogOutput(descriptor: 2)

    private init(descriptor: Int32) { self.descriptor = descriptor }

    /// `path`, made if missing, appended to.
    package static func appending(to path: String) throws(SystemError) -> LogOutput {
        let descriptor = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0o644)
        guard descriptor >= 0 else { throw SystemError(call: "open(\(path))", errno: errno) }
        return LogOutput(descriptor: descriptor)
    }

    /// Writes `line` whole (a write the kernel cuts short is finished; an error drops the rest:
    /// logging must not fail the program).
    package func write(_ line: String) {
        let bytes = Array(line.utf8)
        lock.withLock {
            var offset = 0
            while offset < bytes.count {
                let n = bytes.withUnsafeBytes { Glibc.write(descriptor, $0.baseAddress! + offset, $0.count - offset) }
                if n > 0 {
                    offset += n
                } else if n < 0 && errno == EINTR {
                    continue
                } else {
                    return
                }
            }
        }
    }

    /// The local time as swift-log's stream handler prints it: `2026-12-05T19:02:11+0000`.
    package static func timestamp() -> String {
        var now = time(nil)
        var parts = tm()
        guard localtime_r(&now, &parts) != nil else { return "<unknown>" }
        var buffer = [CChar](repeating: 0, count: 64)
        let n = strftime(&buffer, buffer.count, "%Y-%m-%dT%H:%M:%S%z", &parts)
        return String(decoding: buffer.prefix(n).map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }
}
