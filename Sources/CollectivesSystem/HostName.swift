#if canImport(Glibc)
import Glibc
#endif

/// This host's name, as `hostname` prints it (`fallback` if it cannot be read).
package func thisHostName(fallback: String = "localhost") -> String {
    var buffer = [CChar](repeating: 0, count: 256)
    guard gethostname(&buffer, buffer.count - 1) == 0 else { return fallback }
    return String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
}
