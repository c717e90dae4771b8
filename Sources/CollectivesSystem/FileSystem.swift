#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Files by path: what the file store and the tools need of the file system, each call retried
/// on `EINTR` and failing with a ``FileSystemError`` that names the path and the call.
package enum FileSystem {
    /// Creates `path` as a directory with `mode`; one that exists already is fine.
    package static func makeDirectory(_ path: String, mode: UInt32 = 0o700) throws(FileSystemError) {
        if mkdir(path, mode_t(mode)) != 0 && errno != EEXIST {
            throw FileSystemError(path: path, call: "mkdir")
        }
    }

    /// Makes `path` this process's working directory.
    package static func changeDirectory(to path: String) throws(FileSystemError) {
        if chdir(path) != 0 { throw FileSystemError(path: path, call: "chdir") }
    }

    /// This process's working directory; `nil` when it cannot be named.
    package static func currentDirectory() -> String? {
        var buffer = [CChar](repeating: 0, count: 4096)
        guard getcwd(&buffer, buffer.count) != nil else { return nil }
        return String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }

    /// Whether something exists at `path`.
    package static func exists(_ path: String) -> Bool { access(path, F_OK) == 0 }

    /// The whole file at `path`; `nil` when there is none.
    package static func contents(of path: String) throws(FileSystemError) -> [UInt8]? {
        try ReadableFile(path)?.readToEnd()
    }

    /// Writes `bytes` to `path` so that a reader sees the old file or the whole new one: written
    /// beside it under a name of this process's, then renamed over it.
    ///
    /// With `durably`, the file is on disk before the rename and the rename is before this
    /// returns (both flushed with `fsync`), so that a crash leaves the old file or the new one.
    package static func replaceAtomically(_ path: String, with bytes: [UInt8], durably: Bool = false,
                                          mode: UInt32 = 0o600) throws(FileSystemError) {
        let temporary = "\(path).tmp.\(getpid()).\(UInt64.random(in: 0...UInt64.max))"
        let descriptor = open(temporary, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, mode_t(mode))
        if descriptor < 0 { throw FileSystemError(path: temporary, call: "open") }
        do throws(FileSystemError) {
            try writeAll(descriptor, bytes, path: temporary)
            if durably && fsync(descriptor) != 0 { throw FileSystemError(path: temporary, call: "fsync") }
            _ = close(descriptor)
        } catch {
            _ = close(descriptor)
            _ = unlink(temporary)
            throw error
        }
        if rename(temporary, path) != 0 {
            let failure = FileSystemError(path: path, call: "rename")
            _ = unlink(temporary)
            throw failure
        }
        if durably { flushDirectory(containing: path) }
    }

    /// Flushes the directory holding `path`, so that a rename into it is on disk.
    private static func flushDirectory(containing path: String) {
        let directory = path.split(separator: "/", omittingEmptySubsequences: false).dropLast().joined(separator: "/")
        let descriptor = open(directory.isEmpty ? "." : directory, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        guard descriptor >= 0 else { return }
        _ = fsync(descriptor)
        _ = close(descriptor)
    }

    /// Runs `body` holding an exclusive `flock` on `path` (created if missing), which every
    /// process that locks the same file waits for.
    package static func withExclusiveLock<T, E: Error>(
        on path: String, _ body: () throws(E) -> T
    ) throws(LockedFileError<E>) -> T {
        let descriptor = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0o600)
        if descriptor < 0 { throw .system(FileSystemError(path: path, call: "open")) }
        defer { _ = close(descriptor) }
        do {
            _ = try systemCallBlocking("flock") { flock(descriptor, LOCK_EX) }
        } catch {
            throw .system(FileSystemError(path: path, cause: error))
        }
        defer { _ = flock(descriptor, LOCK_UN) }
        do {
            return try body()
        } catch {
            throw .body(error)
        }
    }

    /// Whether this process may read the file at `path`.
    package static func isReadable(_ path: String) -> Bool { access(path, R_OK) == 0 }

    /// The file at `path` as UTF-8 text; `nil` when it cannot be read.
    package static func text(of path: String) -> String? {
        guard let bytes = try? contents(of: path) else { return nil }
        return String(decoding: bytes, as: UTF8.self)
    }

    /// Writes `text` to `path`, replacing the file (or after its end, with `appending`), made
    /// if missing.
    package static func write(_ text: String, to path: String, appending: Bool = false) throws(FileSystemError) {
        let descriptor = try openForWriting(path, appending: appending)
        defer { _ = close(descriptor) }
        try writeAll(descriptor, Array(text.utf8), path: path)
    }

    /// Opens `path` for writing, made if missing (mode 0644) and emptied if not, or, with
    /// `appending`, written after its end. The caller closes the descriptor.
    package static func openForWriting(_ path: String, appending: Bool = false) throws(FileSystemError) -> Int32 {
        let descriptor = open(path, O_WRONLY | O_CREAT | O_CLOEXEC | (appending ? O_APPEND : O_TRUNC), 0o644)
        if descriptor < 0 { throw FileSystemError(path: path, call: "open") }
        return descriptor
    }

    /// Makes an empty file at `path` if there is none.
    package static func touch(_ path: String) throws(FileSystemError) {
        let descriptor = open(path, O_WRONLY | O_CREAT | O_CLOEXEC, 0o600)
        if descriptor < 0 { throw FileSystemError(path: path, call: "open") }
        _ = close(descriptor)
    }

    /// Where the symbolic link at `path` points; `nil` when it cannot be read.
    package static func linkTarget(of path: String) -> String? {
        var buffer = [UInt8](repeating: 0, count: 4096)
        let count = buffer.withUnsafeMutableBufferPointer { raw in
            raw.withMemoryRebound(to: CChar.self) { readlink(path, $0.baseAddress!, $0.count) }
        }
        return count > 0 ? String(decoding: buffer[0..<count], as: UTF8.self) : nil
    }

    /// The names in the directory at `path`, without `.` and `..`; `nil` when it cannot be read.
    package static func entries(of path: String) -> [String]? {
        guard let directory = opendir(path) else { return nil }
        defer { closedir(directory) }
        var names: [String] = []
        while let entry = readdir(directory) {
            let name = withUnsafePointer(to: entry.pointee.d_name) { pointer in
                pointer.withMemoryRebound(to: CChar.self, capacity: 256) { String(cString: $0) }
            }
            if name != "." && name != ".." { names.append(name) }
        }
        return names
    }

    /// The bytes free to this process on the file system holding `path` (0 when it cannot be asked).
    package static func freeBytes(onFileSystemOf path: String) -> Int {
        var status = statvfs()
        guard statvfs(path, &status) == 0 else { return 0 }
        return Int(status.f_bavail) * Int(status.f_frsize)
    }

    private static func writeAll(_ descriptor: Int32, _ bytes: [UInt8], path: String) throws(FileSystemError) {
        try FileSystemError.naming(path) { () throws(SystemError) in
            try bytes.withUnsafeBytes { buffer in Result { () throws(SystemError) in try Descriptors.write(every: buffer, to: descriptor) } }.get()
        }
    }
}

/// A failed call on a file: the file's path and the call with its `errno`.
package struct FileSystemError: Error, Sendable, Hashable, CustomStringConvertible {
    package let path: String
    package let cause: SystemError

    package init(path: String, cause: SystemError) {
        self.path = path
        self.cause = cause
    }

    /// The failure of `call` on `path`, with the `errno` it set just now.
    package init(path: String, call: String) {
        self.init(path: path, cause: SystemError(call: call, errno: errno))
    }

    /// Runs `body`, naming `path` in the error it throws.
    package static func naming<T>(_ path: String, _ body: () throws(SystemError) -> T) throws(FileSystemError) -> T {
        do {
            return try body()
        } catch {
            throw FileSystemError(path: path, cause: error)
        }
    }

    package var description: String { "\(path): \(cause)" }
}

/// Why ``FileSystem/withExclusiveLock(on:_:)`` failed: taking the lock, or the work done under it.
package enum LockedFileError<Failure: Error>: Error {
    case system(FileSystemError)
    case body(Failure)
}

/// A file opened for reading, closed when released.
package final class ReadableFile {
    package let path: String
    private let descriptor: Int32

    /// Opens `path`; `nil` when there is no such file.
    package init?(_ path: String) throws(FileSystemError) {
        self.path = path
        descriptor = open(path, O_RDONLY | O_CLOEXEC)
        if descriptor < 0 {
            if errno == ENOENT { return nil }
            throw FileSystemError(path: path, call: "open")
        }
    }

    deinit { _ = close(descriptor) }

    /// The file's size in bytes.
    package func size() throws(FileSystemError) -> Int {
        var status = stat()
        guard fstat(descriptor, &status) == 0 else { throw FileSystemError(path: path, call: "fstat") }
        return Int(status.st_size)
    }

    /// The rest of the file.
    package func readToEnd() throws(FileSystemError) -> [UInt8] {
        var bytes: [UInt8] = []
        let chunk = UnsafeMutableRawBufferPointer.allocate(byteCount: 4096, alignment: 1)
        defer { chunk.deallocate() }
        while true {
            let count = try read(into: chunk)
            bytes += chunk[0..<count]
            if count < chunk.count { return bytes }
        }
    }

    /// Reads until `buffer` is full or the file ends; returns the bytes read.
    package func read(into buffer: UnsafeMutableRawBufferPointer) throws(FileSystemError) -> Int {
        var done = 0
        while done < buffer.count {
            let count = try FileSystemError.naming(path) { () throws(SystemError) in
                try systemCallBlocking("read") { Glibc.read(descriptor, buffer.baseAddress! + done, buffer.count - done) }
            }
            if count == 0 { break }
            done += count
        }
        return done
    }
}
