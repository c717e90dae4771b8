import CollectivesSystem
import CZlib


/// Training state on disk: the epochs completed, the parameters and the optimizer's state, with
/// a CRC-32 over all of it. Written atomically (to a temporary file, flushed, renamed over the
/// old one, the directory flushed), so a crash leaves the previous checkpoint or the new one,
/// never half of one.
///
/// Layout (little-endian): `"SWCOLCK1"`, epochs completed (UInt64), parameter count (UInt64),
/// the parameters (Float each), the velocities (Float each), CRC-32 of everything before (UInt32).
///
/// Nothing read from a file can trap: the header is checked (magic, an epoch count of at most
/// ``largestEpochCount``, a parameter count that matches the model and the file's size) before the
/// rest is read, and any difference is a ``CheckpointError`` naming the file and the field.
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
    /// Magic, epochs completed, parameter count.
    static let headerBytes = 24
    /// The most epochs a checkpoint may say were completed (so `epochs + 1` never overflows).
    package static let largestEpochCount = Int(Int32.max)

    /// The checkpoint file in `directory`.
    package static func path(in directory: String) -> String { directory + "/checkpoint.bin" }

    /// The size of a file holding `parameterCount` parameters, or nil if it would not fit an `Int`.
    static func fileBytes(parameterCount: Int) -> Int? {
        let (perValue, overflow1) = parameterCount.multipliedReportingOverflow(by: 8)
        let (total, overflow2) = perValue.addingReportingOverflow(headerBytes + 4)
        return overflow1 || overflow2 || parameterCount < 0 ? nil : total
    }

    /// The bytes of the file.
    package func encoded() -> [UInt8] {
        precondition(velocity.count == parameters.count, "a checkpoint holds one velocity per parameter")
        precondition((0...Self.largestEpochCount).contains(epochsCompleted), "epochs completed out of range")
        var bytes = Self.magic
        bytes.reserveCapacity(Self.fileBytes(parameterCount: parameters.count) ?? 0)
        func append<T: FixedWidthInteger>(_ value: T) { withUnsafeBytes(of: value.littleEndian) { bytes.append(contentsOf: $0) } }
        append(UInt64(epochsCompleted))
        append(UInt64(parameters.count))
        for value in parameters { append(value.bitPattern) }
        for value in velocity { append(value.bitPattern) }
        append(bytes.withUnsafeBytes { Self.crc($0) })
        return bytes
    }

    /// The epoch count and parameter count of a file's first ``headerBytes`` bytes, checked:
    /// the magic, the epoch count's range, and that `fileBytes` holds exactly that many
    /// parameters (and `expectedParameters`, when given).
    static func checkHeader(_ bytes: UnsafeRawBufferPointer, fileSize: Int, expectedParameters: Int?,
                            path: String) throws(CheckpointError) -> (epochs: Int, count: Int) {
        guard bytes.count >= headerBytes, fileSize >= headerBytes + 4, Array(bytes[0..<8]) == magic else {
            throw CheckpointError(path: path, problem: .notACheckpoint)
        }
        let epochs = UInt64(littleEndian: bytes.loadUnaligned(fromByteOffset: 8, as: UInt64.self))
        let count = UInt64(littleEndian: bytes.loadUnaligned(fromByteOffset: 16, as: UInt64.self))
        guard epochs <= UInt64(largestEpochCount) else {
            throw CheckpointError(path: path, problem: .epochsOutOfRange(epochs))
        }
        if let expectedParameters, count != UInt64(expectedParameters) {
            throw CheckpointError(path: path, problem: .parameterCount(inFile: count, model: expectedParameters))
        }
        guard count <= UInt64(Int.max), let expected = fileBytes(parameterCount: Int(count)), expected == fileSize else {
            throw CheckpointError(path: path, problem: .size(bytes: fileSize, parameterCount: count))
        }
        return (Int(epochs), Int(count))
    }

    /// Reads the bytes of a file, checking its header, length and CRC.
    package init(decoding bytes: [UInt8], path: String, expectedParameters: Int? = nil) throws(CheckpointError) {
        let (epochs, count) = try bytes.withUnsafeBytes { raw in
            Result { () throws(CheckpointError) in
                try Self.checkHeader(raw, fileSize: raw.count, expectedParameters: expectedParameters, path: path)
            }
        }.get()
        let (stored, computed) = bytes.withUnsafeBytes { raw in
            (UInt32(littleEndian: raw.loadUnaligned(fromByteOffset: raw.count - 4, as: UInt32.self)),
             Self.crc(UnsafeRawBufferPointer(rebasing: raw[0..<raw.count - 4])))
        }
        guard stored == computed else {
            throw CheckpointError(path: path, problem: .checksum(stored: stored, computed: computed))
        }
        epochsCompleted = epochs
        (parameters, velocity) = bytes.withUnsafeBytes { raw in
            func floats(from offset: Int) -> [Float] {
                (0..<count).map { Float(bitPattern: UInt32(littleEndian: raw.loadUnaligned(fromByteOffset: offset + 4 * $0, as: UInt32.self))) }
            }
            return (floats(from: Self.headerBytes), floats(from: Self.headerBytes + 4 * count))
        }
    }

    /// CRC-32 of `bytes` of any length: zlib takes 32-bit lengths, so it is fed at most 1 GiB
    /// at a time.
    package static func crc(_ bytes: UnsafeRawBufferPointer) -> UInt32 {
        var crc: uLong = 0
        var offset = 0
        let piece = 1 << 30
        repeat {
            let length = Swift.min(piece, bytes.count - offset)
            crc = crc32(crc, bytes.baseAddress.map { $0.assumingMemoryBound(to: Bytef.self) + offset }, uInt(length))
            offset += length
        } while offset < bytes.count
        return UInt32(truncatingIfNeeded: crc)
    }

    /// Writes the checkpoint into `directory` (made if missing), atomically and durably.
    package func write(to directory: String) throws(CheckpointError) {
        let path = Self.path(in: directory)
        try Self.onFiles(path) { () throws(FileSystemError) in
            try FileSystem.makeDirectory(directory, mode: 0o755)
            try FileSystem.replaceAtomically(path, with: encoded(), durably: true, mode: 0o644)
        }
    }

    /// The checkpoint in `directory`, or `nil` if there is none. The header and the file's size
    /// are checked (against `expectedParameters` too, when given) before the rest is read, so a
    /// file of the wrong size is refused without being loaded.
    package static func read(from directory: String, expectedParameters: Int? = nil) throws(CheckpointError) -> Checkpoint? {
        let path = Self.path(in: directory)
        guard let file = try onFiles(path, { () throws(FileSystemError) in try ReadableFile(path) }) else { return nil }
        let size = try onFiles(path) { () throws(FileSystemError) in try file.size() }
        var header = [UInt8](repeating: 0, count: headerBytes)
        let headerRead = try readFully(file, into: &header, range: 0..<Swift.min(size, headerBytes))
        _ = try header.withUnsafeBytes { raw in
            Result { () throws(CheckpointError) in
                try checkHeader(UnsafeRawBufferPointer(rebasing: raw[0..<headerRead]), fileSize: size,
                                expectedParameters: expectedParameters, path: path)
            }
        }.get()
        var bytes = header
        bytes += [UInt8](repeating: 0, count: size - headerBytes)
        let rest = try readFully(file, into: &bytes, range: headerBytes..<size)
        guard rest == size - headerBytes else {
            throw CheckpointError(path: path, problem: .size(bytes: headerBytes + rest, parameterCount: nil))
        }
        return try Checkpoint(decoding: bytes, path: path, expectedParameters: expectedParameters)
    }

    /// Reads into `array[range]` until it is full or the file ends; returns the bytes read.
    private static func readFully(_ file: ReadableFile, into array: inout [UInt8], range: Range<Int>) throws(CheckpointError) -> Int {
        try array.withUnsafeMutableBytes { raw in
            Result { () throws(CheckpointError) in
                try onFiles(file.path) { () throws(FileSystemError) in
                    try file.read(into: UnsafeMutableRawBufferPointer(rebasing: raw[range]))
                }
            }
        }.get()
    }

    /// Runs `body`, whose failure is a ``CheckpointError`` of `path` naming the call that failed.
    private static func onFiles<T>(_ path: String, _ body: () throws(FileSystemError) -> T) throws(CheckpointError) -> T {
        do {
            return try body()
        } catch {
            let call = error.path == path ? error.cause.call : "\(error.cause.call) \(error.path)"
            throw CheckpointError(path: path, problem: .system(call: call, errno: error.cause.errno))
        }
    }
}

/// A checkpoint that could not be written or read, naming the file and what was wrong.
public struct CheckpointError: Error, Sendable, CustomStringConvertible, Equatable {
    /// What was wrong with the file, or which call failed.
    public enum Problem: Sendable, Equatable {
        /// No `SWCOLCK1` header: not a checkpoint of this program.
        case notACheckpoint
        /// The epochs-completed field holds more than ``Checkpoint/largestEpochCount``.
        case epochsOutOfRange(UInt64)
        /// The parameter-count field differs from the model's parameter count.
        case parameterCount(inFile: UInt64, model: Int)
        /// The file's size does not hold the parameters its header counts (truncated or padded);
        /// `parameterCount` is nil when the file ended while being read.
        case size(bytes: Int, parameterCount: UInt64?)
        /// The CRC-32 stored differs from the one computed: the file is damaged.
        case checksum(stored: UInt32, computed: UInt32)
        /// A system call failed.
        case system(call: String, errno: Int32)
        /// Rank 0 could not write or read it (its output says why).
        case failedOnRankZero(writing: Bool)
    }

    public let path: String
    public let problem: Problem

    public init(path: String, problem: Problem) {
        self.path = path
        self.problem = problem
    }

    public var description: String {
        let why: String
        switch problem {
        case .notACheckpoint: why = "not a checkpoint of this program (no SWCOLCK1 header)"
        case .epochsOutOfRange(let value):
            why = "field 'epochs completed' holds \(value), more than \(Checkpoint.largestEpochCount): the file is damaged"
        case .parameterCount(let inFile, let model):
            why = "field 'parameter count' holds \(inFile), this model has \(model) parameters"
        case .size(let bytes, let count?):
            why = "\(bytes) bytes do not hold the \(count) parameters and velocities of field 'parameter count' (truncated?)"
        case .size(let bytes, nil): why = "the file ended after \(bytes) bytes (truncated while being read?)"
        case .checksum(let stored, let computed):
            why = "CRC-32 \(String(computed, radix: 16)) differs from the stored \(String(stored, radix: 16)): the file is damaged"
        case .system(let call, let code): why = "\(call): \(SystemError(call: call, errno: code).message)"
        case .failedOnRankZero(let writing): why = "rank 0 could not \(writing ? "write" : "read") it (its output says why)"
        }
        return "checkpoint \(path): \(why)"
    }
}
