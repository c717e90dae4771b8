#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import CollectivesSystem

/// A store in a directory that every rank can see (a shared file system, or `/tmp` for ranks on
/// one host). Each key is a file; a value appears atomically (written aside, then renamed), and
/// `add` holds an `flock` on the key's lock file.
///
/// Waiting polls the directory with a back-off from 1 ms to 50 ms: file systems offer no portable
/// way to sleep until a file appears, and rendezvous is rare.
public final class FileStore: Store, @unchecked Sendable {
    /// The directory holding the keys.
    public let directory: String
    /// The threads of this process polling in ``get(_:deadline:)`` or ``wait(_:deadline:)``.
    package let gauge = WaiterGauge()

    /// Uses (and creates if needed) `directory`.
    public init(directory: String) throws(RendezvousError) {
        self.directory = directory
        if mkdir(directory, 0o700) != 0 && errno != EEXIST {
            throw .fileSystem(path: directory, cause: SystemError(call: "mkdir", errno: errno))
        }
    }

    /// The file name for a key: bytes other than letters, digits, `-` and `.` are escaped.
    func path(_ key: String) -> String {
        var name = "k_"
        for byte in key.utf8 {
            switch byte {
            case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"),
                 UInt8(ascii: "0")...UInt8(ascii: "9"), UInt8(ascii: "-"), UInt8(ascii: "."):
                name.append(Character(Unicode.Scalar(byte)))
            default:
                name += "_" + String(byte, radix: 16, uppercase: true)
            }
        }
        return directory + "/" + name
    }

    private func read(_ path: String) throws(RendezvousError) -> [UInt8]? {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        if fd < 0 {
            if errno == ENOENT { return nil }
            throw .fileSystem(path: path, cause: SystemError(call: "open", errno: errno))
        }
        defer { _ = close(fd) }
        var bytes: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 4096)
        while true {
            let n = chunk.withUnsafeMutableBytes { Glibc.read(fd, $0.baseAddress, $0.count) }
            if n < 0 {
                if errno == EINTR { continue }
                throw .fileSystem(path: path, cause: SystemError(call: "read", errno: errno))
            }
            if n == 0 { return bytes }
            bytes += chunk[0..<n]
        }
    }

    private func write(_ path: String, _ value: [UInt8]) throws(RendezvousError) {
        let temporary = "\(path).tmp.\(getpid()).\(UInt64.random(in: 0...UInt64.max))"
        let fd = open(temporary, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o600)
        if fd < 0 { throw .fileSystem(path: temporary, cause: SystemError(call: "open", errno: errno)) }
        var offset = 0
        while offset < value.count {
            let n = value.withUnsafeBytes { Glibc.write(fd, $0.baseAddress! + offset, $0.count - offset) }
            if n < 0 {
                if errno == EINTR { continue }
                let cause = SystemError(call: "write", errno: errno)
                _ = close(fd)
                _ = unlink(temporary)
                throw .fileSystem(path: temporary, cause: cause)
            }
            offset += n
        }
        _ = close(fd)
        if rename(temporary, path) != 0 {
            let cause = SystemError(call: "rename", errno: errno)
            _ = unlink(temporary)
            throw .fileSystem(path: path, cause: cause)
        }
    }

    public func set(_ key: String, _ value: [UInt8]) throws(RendezvousError) {
        try write(path(key), value)
    }

    public func get(_ key: String, deadline: Deadline) throws(RendezvousError) -> [UInt8] {
        if let value = try read(path(key)) { return value }
        gauge.enter()
        defer { gauge.leave() }
        var pause = 0.001
        while true {
            if let value = try read(path(key)) { return value }
            if deadline.hasPassed { throw .timedOut(operation: "get", keys: [key]) }
            sleepSeconds(min(pause, deadline.remainingSeconds))
            pause = min(pause * 2, 0.05)
        }
    }

    public func add(_ key: String, _ delta: Int64) throws(RendezvousError) -> Int64 {
        let file = path(key)
        let lockPath = file + ".lock"
        let fd = open(lockPath, O_RDWR | O_CREAT | O_CLOEXEC, 0o600)
        if fd < 0 { throw .fileSystem(path: lockPath, cause: SystemError(call: "open", errno: errno)) }
        defer { _ = close(fd) }
        while flock(fd, LOCK_EX) != 0 {
            if errno != EINTR { throw .fileSystem(path: lockPath, cause: SystemError(call: "flock", errno: errno)) }
        }
        defer { _ = flock(fd, LOCK_UN) }
        let current = try read(file).flatMap { Int64(String(decoding: $0, as: UTF8.self)) } ?? 0
        let next = current &+ delta
        try write(file, Array(String(next).utf8))
        return next
    }

    public func wait(_ keys: [String], deadline: Deadline) throws(RendezvousError) {
        gauge.enter()
        defer { gauge.leave() }
        var pause = 0.001
        while true {
            var missing: [String] = []
            for key in keys where access(path(key), F_OK) != 0 { missing.append(key) }
            if missing.isEmpty { return }
            if deadline.hasPassed { throw .timedOut(operation: "wait", keys: missing) }
            sleepSeconds(min(pause, deadline.remainingSeconds))
            pause = min(pause * 2, 0.05)
        }
    }

    public func check(_ keys: [String]) throws(RendezvousError) -> Bool {
        keys.allSatisfy { access(path($0), F_OK) == 0 }
    }
}
