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
        try Self.onFiles { () throws(FileSystemError) in try FileSystem.makeDirectory(directory) }
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

    /// Runs `body`, whose failure is the store's ``RendezvousError/fileSystem(path:cause:)``.
    private static func onFiles<T>(_ body: () throws(FileSystemError) -> T) throws(RendezvousError) -> T {
        do {
            return try body()
        } catch {
            throw .fileSystem(path: error.path, cause: error.cause)
        }
    }

    private func read(_ path: String) throws(RendezvousError) -> [UInt8]? {
        try Self.onFiles { () throws(FileSystemError) in try FileSystem.contents(of: path) }
    }

    private func write(_ path: String, _ value: [UInt8]) throws(RendezvousError) {
        try Self.onFiles { () throws(FileSystemError) in try FileSystem.replaceAtomically(path, with: value) }
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
        do {
            return try FileSystem.withExclusiveLock(on: file + ".lock") { () throws(RendezvousError) in
                let current = try read(file).flatMap { Int64(String(decoding: $0, as: UTF8.self)) } ?? 0
                let next = current &+ delta
                try write(file, Array(String(next).utf8))
                return next
            }
        } catch {
            switch error {
            case .system(let failure): throw .fileSystem(path: failure.path, cause: failure.cause)
            case .body(let failure): throw failure
            }
        }
    }

    public func wait(_ keys: [String], deadline: Deadline) throws(RendezvousError) {
        gauge.enter()
        defer { gauge.leave() }
        var pause = 0.001
        while true {
            var missing: [String] = []
            for key in keys where !FileSystem.exists(path(key)) { missing.append(key) }
            if missing.isEmpty { return }
            if deadline.hasPassed { throw .timedOut(operation: "wait", keys: missing) }
            sleepSeconds(min(pause, deadline.remainingSeconds))
            pause = min(pause * 2, 0.05)
        }
    }

    public func check(_ keys: [String]) throws(RendezvousError) -> Bool {
        keys.allSatisfy { FileSystem.exists(path($0)) }
    }
}
