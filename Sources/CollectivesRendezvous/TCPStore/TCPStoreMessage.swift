import CollectivesSystem

/// The TCP store's wire format.
///
/// A connection opens with 8 bytes each way: magic `0x52545343` ("CSTR"), version (u16), zero
/// (u16). Then every request and response is a frame: a little-endian u32 length (at most
/// ``maximumFrame``) and that many bytes. A request is an operation byte and its fields; a
/// response is a status byte and its fields. Strings and byte strings are u32-length-prefixed.
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
    static let version: UInt16 = 1
    static let maximumFrame = 64 << 20
    static let maximumKeys = 1 << 16

    enum Operation: UInt8 {
        case set = 1, get = 2, add = 3, wait = 4, check = 5
    }

    enum Status: UInt8 {
        case ok = 0, timedOut = 1, badRequest = 2
    }

    /// What a client's answer to the server's challenge vouches for.
    static let authenticationContext = Array("swift-collectives store client".utf8)

    static func greeting() -> [UInt8] {
        var w = ByteWriter(capacity: 8)
        w.write(magic)
        w.write(version)
        w.write(UInt16(0))
        return w.bytes
    }

    static func isGreeting(_ bytes: [UInt8]) -> Bool {
        var r = ByteReader(bytes)
        return r.read(UInt32.self) == magic && r.read(UInt16.self) == version
    }

    /// Sends one frame.
    static func send(_ payload: [UInt8], on socket: Socket, deadline: Deadline, operation: String) throws(SocketError) {
        var w = ByteWriter(capacity: payload.count + 4)
        w.write(UInt32(payload.count))
        try socket.sendAll(w.bytes + payload, deadline: deadline, operation: operation)
    }

    /// Reads one frame; `nil` when the length is absurd.
    static func receive(on socket: Socket, deadline: Deadline, operation: String) throws(SocketError) -> [UInt8]? {
        var r = ByteReader(try socket.receive(count: 4, deadline: deadline, operation: operation))
        guard let length = r.read(UInt32.self), Int(length) <= maximumFrame else { return nil }
        return try socket.receive(count: Int(length), deadline: deadline, operation: operation)
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
