#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A file that could not be written, with the path and the system's reason.
package struct FileWriteError: Error, CustomStringConvertible {
    package let description: String
    package init(_ description: String) { self.description = description }
}

/// Writes `contents` to `path`, replacing it.
package func writeTextFile(_ path: String, _ contents: String) throws(FileWriteError) {
    try writeTextFile(path, contents, mode: "w")
}

/// Appends `contents` to the file at `path` (made if missing).
package func appendTextFile(_ path: String, _ contents: String) throws(FileWriteError) {
    try writeTextFile(path, contents, mode: "a")
}

private func writeTextFile(_ path: String, _ contents: String, mode: String) throws(FileWriteError) {
    guard let file = fopen(path, mode) else {
        throw FileWriteError("cannot write \(path): \(String(cString: strerror(errno)))")
    }
    var contents = contents
    let written = contents.withUTF8 { bytes in fwrite(bytes.baseAddress, 1, bytes.count, file) }
    let closed = fclose(file)
    guard written == contents.utf8.count, closed == 0 else {
        throw FileWriteError("cannot write \(path): \(String(cString: strerror(errno)))")
    }
}

/// Seconds on the monotonic clock.
package func monotonicSeconds() -> Double {
    var ts = timespec()
    clock_gettime(CLOCK_MONOTONIC, &ts)
    return Double(ts.tv_sec) + Double(ts.tv_nsec) / 1e9
}

/// The contents of the text file at `path`, or `nil` if it cannot be read.
package func readTextFile(_ path: String) -> String? {
    guard let file = fopen(path, "r") else { return nil }
    defer { fclose(file) }
    var bytes: [UInt8] = []
    var chunk = [UInt8](repeating: 0, count: 65536)
    while true {
        let n = fread(&chunk, 1, chunk.count, file)
        if n > 0 { bytes += chunk[0..<n] }
        if n < chunk.count { break }
    }
    return ferror(file) != 0 ? nil : String(decoding: bytes, as: UTF8.self)
}
