import CollectivesSystem

/// The TCP store's wire format (version 2).
///
/// **Opening, both ends prove the job secret.** The client sends 24 bytes: magic `0x52545343`
/// ("CSTR", u32), version (u16), zero (u16), and its 16-byte challenge *c*. The server answers
/// with 56 bytes: the same 8-byte greeting, its challenge *s*, and its proof
/// HMAC-SHA256(secret, "swift-collectives store server" ‖ *c* ‖ *s*). The client checks the
/// proof (a process that does not know the secret cannot make it) and sends its own,
/// HMAC-SHA256(secret, "swift-collectives store client" ‖ *s* ‖ *c*); the server answers one
/// byte, 1 (accepted) or 0 (refused). Both ends then hold the connection's key
/// HMAC-SHA256(secret, "swift-collectives store session" ‖ *c* ‖ *s*).
///
/// **Frames.** Every request and response is a little-endian u32 length (at most
/// ``maximumFrame``), that many bytes, and a 32-byte tag: HMAC-SHA256(key, direction ‖
/// sequence ‖ bytes), direction 0 for requests and 1 for responses, sequence a u64 counting the
/// frames sent that way on this connection from 0. A frame with a wrong tag ends the connection.
/// A request is an operation byte and its fields; a response is a status byte and its fields.
/// Strings and byte strings are u32-length-prefixed.
///
/// | op | request fields | response |
/// |----|----------------|----------|
/// | 1 set | key, value | ok |
/// | 2 get | key, timeout ms (u64) | ok value, or timed out |
/// | 3 add | key, delta (i64) | ok value (i64) |
/// | 4 wait | count (u32), keys, timeout ms (u64) | ok, or timed out |
/// | 5 check | count (u32), keys | ok, flag (u8) |
enum TCPStoreMessage {
    static let magic: UInt32 = 0x5254_5343
    static let version: UInt16 = 2
    static let maximumFrame = 64 << 20
    static let maximumKeys = 1 << 16
    /// Bytes the client opens with: greeting and challenge.
    static let openingBytes = 8 + JobSecret.challengeSize
    /// Bytes the server answers with: greeting, challenge and proof.
    static let serverAnswerBytes = 8 + JobSecret.challengeSize + JobSecret.answerSize
    static let tagBytes = 32

    enum Operation: UInt8 {
        case set = 1, get = 2, add = 3, wait = 4, check = 5
    }

    enum Status: UInt8 {
        case ok = 0, timedOut = 1, badRequest = 2
    }

    /// What the server's proof vouches for (followed by the client's challenge, then its own).
    static let serverContext = Array("swift-collectives store server".utf8)
    /// What the client's proof vouches for (followed by the server's challenge, then its own).
    static let clientContext = Array("swift-collectives store client".utf8)
    /// Derives the connection's key (followed by the client's challenge, then the server's).
    static let sessionContext = Array("swift-collectives store session".utf8)

    static func greeting() -> [UInt8] {
        var w = ByteWriter(capacity: 8)
        w.write(magic)
        w.write(version)
        w.write(UInt16(0))
        return w.bytes
    }

    /// The version in a greeting, or `nil` when the bytes are not a store's greeting.
    static func greetingVersion(_ bytes: some Collection<UInt8>) -> UInt16? {
        var r = ByteReader(Array(bytes.prefix(8)))
        guard r.read(UInt32.self) == magic else { return nil }
        return r.read(UInt16.self)
    }

    static func readKeys(_ r: inout ByteReader) -> [String]? {
        guard let count = r.read(UInt32.self), Int(count) <= maximumKeys else { return nil }
        var keys: [String] = []
        for _ in 0..<count {
            guard let key = r.readString() else { return nil }
            keys.append(key)
        }
        return keys
    }

    static func writeKeys(_ keys: [String], to w: inout ByteWriter) {
        w.write(UInt32(keys.count))
        for key in keys { w.writeString(key) }
    }
}
