/// Little-endian encoding of fixed-width integers and length-prefixed byte strings, for the
/// small control messages (handshakes, store requests) that cross the wire.
public struct ByteWriter: Sendable {
    public private(set) var bytes: [UInt8] = []

    public init(capacity: Int = 64) { bytes.reserveCapacity(capacity) }

    public mutating func write<T: FixedWidthInteger>(_ value: T) {
        withUnsafeBytes(of: value.littleEndian) { bytes.append(contentsOf: $0) }
    }

    /// A `UInt32` length followed by the bytes.
    public mutating func writeBytes(_ value: [UInt8]) {
        write(UInt32(value.count))
        bytes.append(contentsOf: value)
    }

    public mutating func writeString(_ value: String) { writeBytes(Array(value.utf8)) }
}

/// Reads what ``ByteWriter`` wrote; every read checks the bounds and returns `nil` when the
/// input is too short, so malformed input can never trap.
public struct ByteReader: Sendable {
    public let bytes: [UInt8]
    public private(set) var offset = 0

    public init(_ bytes: [UInt8]) { self.bytes = bytes }

    public var remaining: Int { bytes.count - offset }

    public mutating func read<T: FixedWidthInteger>(_: T.Type = T.self) -> T? {
        let size = MemoryLayout<T>.size
        guard remaining >= size else { return nil }
        var value = T.zero
        withUnsafeMutableBytes(of: &value) { dst in
            for i in 0..<size { dst[i] = bytes[offset + i] }
        }
        offset += size
        return T(littleEndian: value)
    }

    /// A `UInt32` length and that many bytes; `nil` if the length exceeds `limit` or the input.
    public mutating func readBytes(limit: Int = 1 << 30) -> [UInt8]? {
        guard let length = read(UInt32.self), Int(length) <= limit, Int(length) <= remaining else { return nil }
        let value = Array(bytes[offset..<offset + Int(length)])
        offset += Int(length)
        return value
    }

    public mutating func readString(limit: Int = 1 << 20) -> String? {
        readBytes(limit: limit).map { String(decoding: $0, as: UTF8.self) }
    }
}
