import CollectivesSystem
import CollectivesTestSupport

#if canImport(Glibc)
import Glibc
#endif

/// A client of the TCP store written from its documented wire format (TCPStoreMessage), that
/// sends what a broken or hostile client might: random and truncated openings, and, once
/// authenticated, random, malformed, truncated and wrongly tagged frames between valid ones.
struct StoreFuzzer {
    let address: SocketAddress
    let secret: JobSecret
    var generator: SeededRandom
    /// Frames sent (an opening counts as one).
    var frames = 0
    /// Connections the server dropped or refused.
    var dropped = 0
    /// Responses that came back with a valid tag.
    var answered = 0

    init(address: SocketAddress, secret: JobSecret, seed: UInt64) {
        self.address = address
        self.secret = secret
        generator = SeededRandom(seed: seed)
    }

    static func greeting() -> [UInt8] {
        var w = ByteWriter()
        w.write(UInt32(0x5254_5343))
        w.write(UInt16(2))
        w.write(UInt16(0))
        return w.bytes
    }

    mutating func randomBytes(_ count: Int) -> [UInt8] { (0..<count).map { _ in UInt8.random(in: 0...255, using: &generator) } }

    /// A connection that sends random bytes, or a truncated opening, and goes. False when the
    /// server could not be reached.
    @discardableResult
    mutating func stranger() -> Bool {
        guard let socket = try? Socket.connect(to: address, deadline: .after(seconds: 5)) else { return false }
        defer { socket.close() }
        let bytes: [UInt8]
        switch Int.random(in: 0..<4, using: &generator) {
        case 0: bytes = randomBytes(Int.random(in: 0...100, using: &generator))
        case 1: bytes = Array(Self.greeting().prefix(Int.random(in: 0...7, using: &generator)))
        case 2: bytes = Self.greeting() + randomBytes(Int.random(in: 0...15, using: &generator))
        default:
            // A whole opening, then a proof made without the secret.
            bytes = Self.greeting() + randomBytes(16)
            _ = try? socket.sendAll(bytes, deadline: .after(seconds: 2))
            _ = try? socket.receive(count: 56, deadline: .after(seconds: 2))
            _ = try? socket.sendAll(randomBytes(32), deadline: .after(seconds: 2))
            frames += 2
            if (try? socket.receive(count: 1, deadline: .after(seconds: 2))) != [1] { dropped += 1 }
            return true
        }
        frames += 1
        _ = try? socket.sendAll(bytes, deadline: .after(seconds: 2))
        return true
    }

    /// One authenticated connection: `count` frames, most valid, some not; pipelined in batches.
    /// Returns early when the server drops the connection (as it must after a bad frame).
    @discardableResult
    mutating func session(frames count: Int) -> Bool {
        guard let socket = try? Socket.connect(to: address, deadline: .after(seconds: 5)) else { return false }
        defer { socket.close() }
        let ours = randomBytes(16)
        guard (try? socket.sendAll(Self.greeting() + ours, deadline: .after(seconds: 5))) != nil,
              let answer = try? socket.receive(count: 56, deadline: .after(seconds: 5)) else { dropped += 1; return true }
        let theirs = Array(answer[8..<24])
        guard secret.accepts(Array(answer[24...]), to: ours + theirs, context: Array("swift-collectives store server".utf8)) else {
            dropped += 1
            return true
        }
        guard (try? socket.sendAll(secret.answer(theirs + ours, context: Array("swift-collectives store client".utf8)), deadline: .after(seconds: 5))) != nil,
              (try? socket.receive(count: 1, deadline: .after(seconds: 5))) == [1] else { dropped += 1; return true }
        frames += 2
        let key = JobSecret(bytes: secret.answer(ours + theirs, context: Array("swift-collectives store session".utf8)))
        var sent: UInt64 = 0, received: UInt64 = 0
        func tag(_ direction: UInt8, _ sequence: UInt64, _ payload: [UInt8]) -> [UInt8] {
            var header = ByteWriter()
            header.write(direction)
            header.write(sequence)
            return key.answer(payload, context: header.bytes)
        }
        var remaining = count
        while remaining > 0 {
            var batch: [UInt8] = []
            var expected = 0
            var ends = false
            for _ in 0..<Swift.min(32, remaining) {
                remaining -= 1
                frames += 1
                let payload = request()
                var frame = ByteWriter()
                frame.write(UInt32(payload.count))
                switch Int.random(in: 0..<100, using: &generator) {
                case 0:  // a wrong tag
                    batch += frame.bytes + payload + randomBytes(32)
                    ends = true
                case 1:  // a length past the limit
                    var huge = ByteWriter()
                    huge.write(UInt32.random(in: (64 << 20 + 1)...UInt32.max, using: &generator))
                    batch += huge.bytes + randomBytes(8)
                    ends = true
                case 2:  // truncated: the frame stops half way, and the connection with it
                    let whole = frame.bytes + payload + tag(0, sent, payload)
                    batch += whole.prefix(Int.random(in: 0..<whole.count, using: &generator))
                    ends = true
                default:
                    batch += frame.bytes + payload + tag(0, sent, payload)
                    sent += 1
                    expected += 1
                }
                if ends { break }
            }
            guard (try? socket.sendAll(batch, deadline: .after(seconds: 5))) != nil else { dropped += 1; return true }
            // Read the answers to the valid frames before the first bad one; a malformed
            // (but well-tagged) request ends the connection early, which is allowed.
            for _ in 0..<expected {
                guard let header = try? socket.receive(count: 4, deadline: .after(seconds: 10)) else { dropped += 1; return true }
                var r = ByteReader(header)
                let length = Int(r.read(UInt32.self) ?? 0)
                guard length < 1 << 20, let body = try? socket.receive(count: length + 32, deadline: .after(seconds: 10)) else { dropped += 1; return true }
                let payload = Array(body.prefix(length))
                guard Array(body.suffix(32)) == tag(1, received, payload) else { dropped += 1; return true }
                received += 1
                answered += 1
            }
            if ends {
                dropped += 1
                return true
            }
        }
        return true
    }

    /// A request: mostly well formed with random keys and values (a bounded key space, small
    /// values, no waiting), sometimes malformed.
    mutating func request() -> [UInt8] {
        var w = ByteWriter()
        func key() -> String { "fuzz/\(Int.random(in: 0..<500, using: &generator))" }
        switch Int.random(in: 0..<100, using: &generator) {
        case 0..<30:
            w.write(UInt8(2))  // get, no wait
            w.writeString(key())
            w.write(UInt64(0))
        case 30..<55:
            w.write(UInt8(1))  // set
            w.writeString(key())
            w.writeBytes(randomBytes(Int.random(in: 0...64, using: &generator)))
        case 55..<70:
            w.write(UInt8(3))  // add
            w.writeString(key())
            w.write(Int64.random(in: -5...5, using: &generator))
        case 70..<85:
            w.write(UInt8(5))  // check
            w.write(UInt32(2))
            w.writeString(key())
            w.writeString(key())
        case 85..<90:
            w.write(UInt8(4))  // wait for keys that exist or not, without waiting
            w.write(UInt32(1))
            w.writeString(key())
            w.write(UInt64(0))
        case 90..<94:
            return randomBytes(Int.random(in: 0...40, using: &generator))  // random payload
        case 94..<97:
            w.write(UInt8(5))  // check claiming far more keys than it holds
            w.write(UInt32.max)
        default:
            w.write(UInt8(1))  // set whose value's length runs past the frame
            w.writeString(key())
            w.write(UInt32(1 << 30))
        }
        return w.bytes
    }
}
