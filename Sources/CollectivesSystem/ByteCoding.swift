/// Little-endian encoding of fixed-width integers and length-prefixed byte strings, for the
/// small control messages (handshakes, store requests) that cross the wire.
package struct ByteWriter: Sendable {
    package private(set) var bytes: [UInt8] = []

    package init(capacity: Int = 64) { bytes.reserveCapacity(capacity) }

    package mutating func write<T: FixedWidthInteger>(_ value: T) {
        withUnsafeBytes(of: value.littleEndian) { bytes.append(contentsOf: $0) }
    }

    /// A `UInt32` length followed by the bytes.
    package mutating func writeBytes(_ value: [UInt8]) {
        write(UInt32(value.count))
        bytes.append(contentsOf: value)
    }

    package mutating func writeString(_ value: String) { writeBytes(Array(value.utf8)) }
}

/// Reads what ``ByteWriter`` wrote; every read checks the bounds and returns `nil` when the
/// input is too short, so malformed input can never trap.
package struct ByteReader: Sendable {
    package let bytes: [UInt8]
    package private(set) var offset = 0

    package init(_ bytes: [UInt8]) { self.bytes = bytes }

    package var remaining: Int { bytes.count - offset }

    package mutating func read<T: FixedWidthInteger>(_: T.Type = T.self) -> T? {
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
    package mutating func readBytes(limit: Int = 1 << 30) -> [UInt8]? {
        guard let length = read(UInt32.self), Int(length) <= limit, Int(length) <= remaining else { return nil }
        let value = Array(bytes[offset..<offset + Int(length)])
        offset += Int(length)
        return value
    }

    package mutating func readString(limit: Int = 1 << 20) -> String? {
        readBytes(limit: limit).map { String(decoding: $0, as: UTF8.self) }
    }
}
