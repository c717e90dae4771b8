import CollectivesSystem
import CollectivesTransport
import Synchronization
import Testing

/// Authenticated data frames (`TCPOptions.authenticateFrames`): a frame whose tag is not the
/// connection key's fails the receive, naming the peer; the right tag is accepted.
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

    /// Header, payload and tag of frame `sequence`, as the wire format says.
    static func frame(_ payload: [UInt8], tag: MessageTag, key: [UInt8], sequence: UInt64, corrupt: Bool) -> [UInt8] {
        var header = FrameHeader(tag: tag, length: UInt64(payload.count)).words
        let headerBytes = withUnsafeBytes(of: &header) { Array($0) }
        var prefix = ByteWriter()
        prefix.write(sequence)
        var mac = JobSecret(bytes: key).answer(headerBytes + payload, context: prefix.bytes)
        if corrupt { mac[7] ^= 1 }
        return headerBytes + payload + mac
    }

    @Test func theRightTagIsAcceptedAndAWrongOneFailsTheReceive() throws {
        let key = (0..<32).map { UInt8($0) }
        let (transport, raw) = try Self.halfPair(key: key)
        defer { transport.close(); raw.close() }
        let payload = (0..<1000).map { UInt8(truncatingIfNeeded: $0 &* 7) }
        try raw.sendAll(Self.frame(payload, tag: 5, key: key, sequence: 0, corrupt: false), deadline: .after(seconds: 5))
        var into = [UInt8](repeating: 0, count: 1000)
        try into.withUnsafeMutableBytes { try transport.receive(into: $0, from: 1, tag: 5, deadline: .after(seconds: 5)) }
        #expect(into == payload)
        // The next frame, with one bit of its tag flipped.
        try raw.sendAll(Self.frame(payload, tag: 6, key: key, sequence: 1, corrupt: true), deadline: .after(seconds: 5))
        let error = into.withUnsafeMutableBytes { buffer in
            #expect(throws: TransportError.self) { try transport.receive(into: buffer, from: 1, tag: 6, deadline: .after(seconds: 5)) }
        }
        #expect(error?.description.contains("failed authentication") == true && error?.peer == 1, "\(String(describing: error))")
    }

    @Test func aReplayedFrameFails() throws {
        let key = (0..<32).map { UInt8(255 - $0) }
        let (transport, raw) = try Self.halfPair(key: key)
        defer { transport.close(); raw.close() }
        let payload: [UInt8] = [1, 2, 3]
        let first = Self.frame(payload, tag: 9, key: key, sequence: 0, corrupt: false)
        try raw.sendAll(first + first, deadline: .after(seconds: 5))
        var into = [UInt8](repeating: 0, count: 3)
        try into.withUnsafeMutableBytes { try transport.receive(into: $0, from: 1, tag: 9, deadline: .after(seconds: 5)) }
        let error = into.withUnsafeMutableBytes { buffer in
            #expect(throws: TransportError.self) { try transport.receive(into: buffer, from: 1, tag: 9, deadline: .after(seconds: 5)) }
        }
        #expect(error?.description.contains("failed authentication") == true, "\(String(describing: error))")
    }
}
