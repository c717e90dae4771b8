/// The header in front of every message on a TCP data connection: 16 bytes, little-endian.
///
/// | bytes | field |
/// |-------|-------|
/// | 0..<8 | tag (the collective's sequence number and step, chosen by the algorithm) |
/// | 8..<16 | payload length in bytes |
///
/// The receiver knows the tag and length it expects (see ``Transport``'s matching contract) and
/// checks both before it accepts the payload, so a mismatched call or garbage on the wire is
/// caught at the first header.
public struct TCPFrameHeader: Sendable, Hashable {
    public static let size = 16

    public var tag: UInt64
    public var length: UInt64

    public init(tag: UInt64, length: UInt64) {
        self.tag = tag
        self.length = length
    }

    public func store(to pointer: UnsafeMutableRawPointer) {
        pointer.storeBytes(of: tag.littleEndian, toByteOffset: 0, as: UInt64.self)
        pointer.storeBytes(of: length.littleEndian, toByteOffset: 8, as: UInt64.self)
    }

    public static func load(from pointer: UnsafeRawPointer) -> TCPFrameHeader {
        TCPFrameHeader(
            tag: UInt64(littleEndian: pointer.loadUnaligned(fromByteOffset: 0, as: UInt64.self)),
            length: UInt64(littleEndian: pointer.loadUnaligned(fromByteOffset: 8, as: UInt64.self)))
    }
}
