/// The header in front of every message on every transport (TCP streams, shared-memory and
/// RDMA rings): 32 bytes, little-endian.
///
/// | bytes | field |
/// |-------|-------|
/// | 0..<8 | tag value (the collective's sequence number and kind) |
/// | 8..<16 | payload length in bytes |
/// | 16..<24 | the call (type, operation, root, algorithm, packed by the communicator) |
/// | 24..<32 | the call's element count |
///
/// The receiver knows the tag and length it expects (see ``Transport``'s matching contract) and
/// checks both with ``mismatch(expected:expectedBytes:sender:receiver:peerAddress:)`` before it
/// lets a byte of the payload into the caller's buffer, so a mismatched call or garbage on the
/// wire is caught at the first header and the buffer is left as it was.
package struct FrameHeader: Sendable, Hashable {
    package static let size = 32

    package var tag: MessageTag
    package var length: UInt64

    /// The tag of a padding frame in a ring: the reader skips its `length` bytes, and no receive
    /// ever matches it (no message of a communicator has this tag value).
    package static let padding = MessageTag(.max, call: 0x4744_4150, count: 0)

    package init(tag: MessageTag, length: UInt64) {
        self.tag = tag
        self.length = length
    }

    /// The four words as they go on the wire.
    @inlinable
    package var words: (UInt64, UInt64, UInt64, UInt64) {
        (tag.value.littleEndian, length.littleEndian, tag.call.littleEndian, tag.count.littleEndian)
    }

    /// The header whose wire words are `words`.
    @inlinable
    package init(words: (UInt64, UInt64, UInt64, UInt64)) {
        self.init(tag: MessageTag(UInt64(littleEndian: words.0), call: UInt64(littleEndian: words.2), count: UInt64(littleEndian: words.3)),
                  length: UInt64(littleEndian: words.1))
    }

    @inlinable
    package func store(to pointer: UnsafeMutableRawPointer) {
        pointer.storeBytes(of: words, as: (UInt64, UInt64, UInt64, UInt64).self)
    }

    @inlinable
    package static func load(from pointer: UnsafeRawPointer) -> FrameHeader {
        FrameHeader(words: pointer.loadUnaligned(as: (UInt64, UInt64, UInt64, UInt64).self))
    }

    /// `nil` when this header is the one a receive posted with `expected` and `expectedBytes`
    /// waits for; otherwise the receive's mismatch error. An absurd length is reported as sent;
    /// nothing is ever allocated for it.
    package func mismatch(expected: MessageTag, expectedBytes: Int, sender: Int, receiver: Int,
                         peerAddress: String? = nil) -> TransportError? {
        guard tag != expected || length != UInt64(expectedBytes) else { return nil }
        return MessageMismatch(sender: sender, receiver: receiver, sent: tag, sentBytes: length > UInt64(Int.max) ? Int.max : Int(length),
                               expected: expected, expectedBytes: expectedBytes).error(peerAddress: peerAddress)
    }
}

/// The name the header had when only TCP used it.
@available(*, deprecated, renamed: "FrameHeader")
package typealias TCPFrameHeader = FrameHeader
