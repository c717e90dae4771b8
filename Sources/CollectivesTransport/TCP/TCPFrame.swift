/// The header in front of every message on a TCP data connection (and in the shared-memory
/// rings): 32 bytes, little-endian.
///
/// | bytes | field |
/// |-------|-------|
/// | 0..<8 | tag value (the collective's sequence number and kind) |
/// | 8..<16 | payload length in bytes |
/// | 16..<24 | the call (type, operation, root, algorithm, packed by the communicator) |
/// | 24..<32 | the call's element count |
///
/// The receiver knows the tag and length it expects (see ``Transport``'s matching contract) and
/// checks both before it accepts the payload, so a mismatched call or garbage on the wire is
/// caught at the first header.
public struct TCPFrameHeader: Sendable, Hashable {
    public static let size = 32

    public var tag: MessageTag
    public var length: UInt64

    public init(tag: MessageTag, length: UInt64) {
        self.tag = tag
        self.length = length
    }

    public func store(to pointer: UnsafeMutableRawPointer) {
        pointer.storeBytes(of: tag.value.littleEndian, toByteOffset: 0, as: UInt64.self)
        pointer.storeBytes(of: length.littleEndian, toByteOffset: 8, as: UInt64.self)
        pointer.storeBytes(of: tag.call.littleEndian, toByteOffset: 16, as: UInt64.self)
        pointer.storeBytes(of: tag.count.littleEndian, toByteOffset: 24, as: UInt64.self)
    }

    public static func load(from pointer: UnsafeRawPointer) -> TCPFrameHeader {
        TCPFrameHeader(
            tag: MessageTag(UInt64(littleEndian: pointer.loadUnaligned(fromByteOffset: 0, as: UInt64.self)),
                            call: UInt64(littleEndian: pointer.loadUnaligned(fromByteOffset: 16, as: UInt64.self)),
                            count: UInt64(littleEndian: pointer.loadUnaligned(fromByteOffset: 24, as: UInt64.self))),
            length: UInt64(littleEndian: pointer.loadUnaligned(fromByteOffset: 8, as: UInt64.self)))
    }
}
