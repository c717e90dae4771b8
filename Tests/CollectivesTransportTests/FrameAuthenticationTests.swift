import CollectivesSystem
import CollectivesTransport
import Synchronization
import Testing

/// Authenticated data frames (`TCPOptions.authenticateFrames`): a frame whose tag is not the
/// direction key's fails the receive, naming the peer, and never reaches the caller's buffer; the
/// right tag is accepted. Frames reflected back to their sender, replayed, reordered or cut short
/// all fail.
@Suite struct FrameAuthenticationTests {
    /// Rank 0 as a transport over one end of a loopback connection; the other end is raw, and
    /// writes frames by hand as rank 1 would.
    static func halfPair(key: [UInt8]) throws -> (TCPTransport, Socket) {
        let listener = try Socket.listen(on: .loopback(port: 0))
        defer { listener.close() }
        let raw = try Socket.connect(to: try listener.localAddress(), deadline: .after(seconds: 5))
        guard let accepted = try listener.accept(deadline: .after(seconds: 5)) else { throw TransportError(.timedOut, rank: 0, peer: 1, operation: "accept") }
        var options = TCPOptions()
        options.authenticateFrames = true
        let transport = TCPTransport(rank: 0, worldSize: 2, sockets: [[], [accepted]], options: options, frameKeys: [[], [key]])
        return (transport, raw)
    }

    /// Header, payload and tag of frame `sequence` from `sender` to `receiver`, as the wire format
    /// says (docs/protocol.md): HMAC-SHA256(direction key, sequence ‖ header ‖ payload).
    static func frame(_ payload: [UInt8], tag: MessageTag, key: [UInt8], sequence: UInt64, corrupt: Bool = false,
                      sender: Int = 1, receiver: Int = 0) -> [UInt8] {
        var header = FrameHeader(tag: tag, length: UInt64(payload.count)).words
        let headerBytes = withUnsafeBytes(of: &header) { Array($0) }
        var prefix = ByteWriter()
        prefix.write(sequence)
        let directionKey = TCPHello.directionKey(connectionKey: key, sender: sender, receiver: receiver)
        var mac = JobSecret(bytes: directionKey).answer(headerBytes + payload, context: prefix.bytes)
        if corrupt { mac[7] ^= 1 }
        return headerBytes + payload + mac
    }

    static let sentinel: UInt8 = 0xA5

    /// Receives `count` bytes with `tag` from rank 1 into a buffer of sentinels; returns the
    /// error (nil when it was accepted) and the buffer.
    static func receive(_ transport: TCPTransport, count: Int, tag: MessageTag) -> (TransportError?, [UInt8]) {
        var into = [UInt8](repeating: sentinel, count: count)
        do {
            try into.withUnsafeMutableBytes { try transport.receive(into: $0, from: 1, tag: tag, deadline: .after(seconds: 5)) }
            return (nil, into)
        } catch let error as TransportError {
            return (error, into)
        } catch {
            Issue.record("not a transport error: \(error)")
            return (nil, into)
        }
    }

    static func isAuthenticationFailure(_ error: TransportError?) -> Bool {
        guard let error, error.peer == 1, case .protocolViolation = error.kind else { return false }
        return error.description.contains("failed authentication")
    }

    @Test func theRightTagIsAcceptedAndAWrongOneFailsTheReceive() throws {
        let key = (0..<32).map { UInt8($0) }
        let (transport, raw) = try Self.halfPair(key: key)
        defer { transport.close(); raw.close() }
        let payload = (0..<1000).map { UInt8(truncatingIfNeeded: $0 &* 7) }
        try raw.sendAll(Self.frame(payload, tag: 5, key: key, sequence: 0), deadline: .after(seconds: 5))
        let (accepted, into) = Self.receive(transport, count: 1000, tag: 5)
        #expect(accepted == nil && into == payload)
        // The next frame, with one bit of its tag flipped: the receive fails and its buffer
        // keeps every sentinel (the payload is checked before it reaches the caller).
        try raw.sendAll(Self.frame(payload, tag: 6, key: key, sequence: 1, corrupt: true), deadline: .after(seconds: 5))
        let (error, untouched) = Self.receive(transport, count: 1000, tag: 6)
        #expect(Self.isAuthenticationFailure(error), "\(String(describing: error))")
        #expect(untouched.allSatisfy { $0 == Self.sentinel }, "a frame that failed its tag wrote into the caller's buffer")
    }

    /// A large frame (read past the staged part straight from the socket) that fails its tag
    /// leaves the caller's buffer as it was too.
    @Test func aLargeFrameThatFailsLeavesTheBufferUntouched() throws {
        let key = (0..<32).map { UInt8($0 ^ 0x5C) }
        let (transport, raw) = try Self.halfPair(key: key)
        defer { transport.close(); raw.close() }
        let payload = (0..<300_001).map { UInt8(truncatingIfNeeded: $0 &* 13 &+ 1) }
        let writer = SystemThread(name: "writer") {
            try? raw.sendAll(Self.frame(payload, tag: 3, key: key, sequence: 0, corrupt: true), deadline: .after(seconds: 10))
        }
        let (error, untouched) = Self.receive(transport, count: payload.count, tag: 3)
        writer.join()
        #expect(Self.isAuthenticationFailure(error), "\(String(describing: error))")
        #expect(untouched.allSatisfy { $0 == Self.sentinel }, "a frame that failed its tag wrote into the caller's buffer")
    }

    @Test func aReplayedFrameFails() throws {
        let key = (0..<32).map { UInt8(255 - $0) }
        let (transport, raw) = try Self.halfPair(key: key)
        defer { transport.close(); raw.close() }
        let payload: [UInt8] = [1, 2, 3]
        let first = Self.frame(payload, tag: 9, key: key, sequence: 0)
        try raw.sendAll(first + first, deadline: .after(seconds: 5))
        #expect(Self.receive(transport, count: 3, tag: 9).0 == nil)
        let (error, untouched) = Self.receive(transport, count: 3, tag: 9)
        #expect(Self.isAuthenticationFailure(error), "\(String(describing: error))")
        #expect(untouched == [UInt8](repeating: Self.sentinel, count: 3))
    }

    @Test func reorderedFramesFail() throws {
        let key = (0..<32).map { UInt8($0 &* 3) }
        let (transport, raw) = try Self.halfPair(key: key)
        defer { transport.close(); raw.close() }
        // Frames 0 and 1 of the same tag and size, sent as 1 then 0.
        let second = Self.frame([4, 5, 6, 7], tag: 2, key: key, sequence: 1)
        let first = Self.frame([0, 1, 2, 3], tag: 2, key: key, sequence: 0)
        try raw.sendAll(second + first, deadline: .after(seconds: 5))
        let (error, untouched) = Self.receive(transport, count: 4, tag: 2)
        #expect(Self.isAuthenticationFailure(error), "\(String(describing: error))")
        #expect(untouched == [UInt8](repeating: Self.sentinel, count: 4))
    }

    /// Rank 0's own frame sent back to it verifies under neither direction's key: each direction
    /// has its own (before, both shared one key and counted from 0, so it verified).
    @Test func aFrameReflectedToItsSenderFails() throws {
        let key = (0..<32).map { UInt8($0 &+ 100) }
        let (transport, raw) = try Self.halfPair(key: key)
        defer { transport.close(); raw.close() }
        let payload = (0..<64).map { UInt8($0) }
        try payload.withUnsafeBytes { try transport.send($0, to: 1, tag: 11, deadline: .after(seconds: 5)) }
        let sent = try raw.receive(count: FrameHeader.size + payload.count + 32, deadline: .after(seconds: 5))
        // What rank 0 sent is what the wire format says for direction 0 → 1 …
        #expect(sent == Self.frame(payload, tag: 11, key: key, sequence: 0, sender: 0, receiver: 1))
        // … and sent back unchanged, as rank 0's first received frame, it fails.
        try raw.sendAll(sent, deadline: .after(seconds: 5))
        let (error, untouched) = Self.receive(transport, count: payload.count, tag: 11)
        #expect(Self.isAuthenticationFailure(error), "\(String(describing: error))")
        #expect(untouched.allSatisfy { $0 == Self.sentinel })
    }

    /// A frame cut short (its tag, or its payload, missing) and the connection closed: the
    /// receive fails as a lost peer and writes nothing.
    @Test(arguments: [8, 32 + 20, 32 + 100 + 31])
    func aTruncatedFrameFailsWithoutWriting(keptBytes: Int) throws {
        let key = (0..<32).map { UInt8($0 ^ 0x36) }
        let (transport, raw) = try Self.halfPair(key: key)
        defer { transport.close() }
        let whole = Self.frame((0..<100).map { UInt8($0) }, tag: 4, key: key, sequence: 0)
        try raw.sendAll(Array(whole.prefix(keptBytes)), deadline: .after(seconds: 5))
        raw.close()
        let (error, untouched) = Self.receive(transport, count: 100, tag: 4)
        #expect(error?.kind == .peerGone && error?.peer == 1, "\(String(describing: error))")
        #expect(untouched.allSatisfy { $0 == Self.sentinel }, "a cut frame wrote into the caller's buffer")
    }
}
