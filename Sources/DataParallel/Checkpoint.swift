import CZlib

#if canImport(Glibc)
import Glibc
#endif

/// Training state on disk: the epochs completed, the parameters and the optimizer's state, with
/// a CRC-32 over all of it. Written atomically (to a temporary file, flushed, renamed over the
/// old one, the directory flushed), so a crash leaves the previous checkpoint or the new one,
/// never half of one.
///
/// Layout (little-endian): `"SWCOLCK1"`, epochs completed (UInt64), parameter count (UInt64),
/// the parameters (Float each), the velocities (Float each), CRC-32 of everything before (UInt32).
public struct Checkpoint: Sendable, Equatable {
    public var epochsCompleted: Int
    public var parameters: [Float]
    public var velocity: [Float]

    public init(epochsCompleted: Int, parameters: [Float], velocity: [Float]) {
        self.epochsCompleted = epochsCompleted
        self.parameters = parameters
        self.velocity = velocity
    }

    static let magic = Array("SWCOLCK1".utf8)

    /// The checkpoint file in `directory`.
    public static func path(in directory: String) -> String { directory + "/checkpoint.bin" }

    /// The bytes of the file.
    public func encoded() -> [UInt8] {
        precondition(velocity.count == parameters.count, "a checkpoint holds one velocity per parameter")
        var bytes = Self.magic
        func append<T: FixedWidthInteger>(_ value: T) { withUnsafeBytes(of: value.littleEndian) { bytes.append(contentsOf: $0) } }
        append(UInt64(epochsCompleted))
        append(UInt64(parameters.count))
        for value in parameters { append(value.bitPattern) }
        for value in velocity { append(value.bitPattern) }
        append(Self.crc(bytes))
        return bytes
    }

    /// Reads the bytes of a file, checking its magic, length and CRC.
    public init(decoding bytes: [UInt8], path: String) throws(CheckpointError) {
        func fail(_ why: String) -> CheckpointError { CheckpointError(path: path, reason: why) }
        guard bytes.count >= 8 + 16 + 4, Array(bytes[0..<8]) == Self.magic else {
            throw fail("not a checkpoint of this program (no SWCOLCK1 header)")
        }
        func load<T: FixedWidthInteger>(_: T.Type, at offset: Int) -> T {
            var value: T = 0
            withUnsafeMutableBytes(of: &value) { $0.copyBytes(from: bytes[offset..<offset + MemoryLayout<T>.size]) }
            return T(littleEndian: value)
        }
        let epochs = load(UInt64.self, at: 8), count = Int(clamping: load(UInt64.self, at: 16))
        guard count <= (bytes.count - 28) / 8, bytes.count == 24 + 8 * count + 4 else {
            throw fail("\(bytes.count) bytes do not hold \(count) parameters and their velocities (truncated?)")
        }
        let stored = load(UInt32.self, at: bytes.count - 4)
        let computed = Self.crc(Array(bytes[0..<bytes.count - 4]))
        guard stored == computed else {
            throw fail("CRC-32 \(String(computed, radix: 16)) differs from the stored \(String(stored, radix: 16)): the file is damaged")
        }
        epochsCompleted = Int(clamping: epochs)
        parameters = (0..<count).map { Float(bitPattern: load(UInt32.self, at: 24 + 4 * $0)) }
        velocity = (0..<count).map { Float(bitPattern: load(UInt32.self, at: 24 + 4 * (count + $0))) }
    }

    static func crc(_ bytes: [UInt8]) -> UInt32 {
        bytes.withUnsafeBufferPointer { UInt32(truncatingIfNeeded: crc32(0, $0.baseAddress, uInt($0.count))) }
    }

    /// Writes the checkpoint into `directory` (made if missing), atomically.
    public func write(to directory: String) throws(CheckpointError) {
        let path = Self.path(in: directory), temporary = path + ".partial"
        func fail(_ call: String) -> CheckpointError { CheckpointError(path: path, reason: "\(call): \(String(cString: strerror(errno)))") }
        if mkdir(directory, 0o755) != 0 && errno != EEXIST { throw fail("mkdir \(directory)") }
        let fd = open(temporary, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o644)
        guard fd >= 0 else { throw fail("open \(temporary)") }
        let bytes = encoded()
        var written = 0
        while written < bytes.count {
            let n = bytes.withUnsafeBytes { Glibc.write(fd, $0.baseAddress! + written, $0.count - written) }
            if n < 0 && errno == EINTR { continue }
            guard n > 0 else {
                let error = fail("write \(temporary)")
                close(fd)
                throw error
            }
            written += n
        }
        guard fsync(fd) == 0 else {
            let error = fail("fsync \(temporary)")
            close(fd)
            throw error
        }
        close(fd)
        guard rename(temporary, path) == 0 else { throw fail("rename \(temporary)") }
        let directoryFD = open(directory, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        if directoryFD >= 0 {
            fsync(directoryFD)
            close(directoryFD)
        }
    }

    /// The checkpoint in `directory`, or `nil` if there is none.
    public static func read(from directory: String) throws(CheckpointError) -> Checkpoint? {
        let path = Self.path(in: directory)
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        if fd < 0 {
            if errno == ENOENT { return nil }
            throw CheckpointError(path: path, reason: "open: \(String(cString: strerror(errno)))")
        }
        defer { close(fd) }
        var bytes: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 1 << 20)
        while true {
            let n = chunk.withUnsafeMutableBytes { Glibc.read(fd, $0.baseAddress, $0.count) }
            if n < 0 && errno == EINTR { continue }
            guard n >= 0 else { throw CheckpointError(path: path, reason: "read: \(String(cString: strerror(errno)))") }
            if n == 0 { break }
            bytes += chunk[0..<n]
        }
        return try Checkpoint(decoding: bytes, path: path)
    }
}

/// A checkpoint that could not be written or read, naming the file.
public struct CheckpointError: Error, Sendable, CustomStringConvertible {
    public let path: String
    public let reason: String
    public var description: String { "checkpoint \(path): \(reason)" }
}
