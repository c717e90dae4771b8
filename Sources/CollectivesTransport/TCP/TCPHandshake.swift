import CollectivesSystem

/// The first bytes on every TCP data connection: the connecting rank says who it is, the
/// accepting rank checks it and answers. 28 bytes, little-endian:
///
/// | bytes | field |
/// |-------|-------|
/// | 0..<4 | magic `0x4C4C4F43` ("COLL") |
/// | 4..<6 | protocol version |
/// | 6 | this connection's stream index (0 when one stream per pair) |
/// | 7 | streams per pair of ranks (0 read as 1) in bits 0–6; bit 7 set when every frame is authenticated |
/// | 8..<16 | job id (the same on every rank of a job, from the rendezvous) |
/// | 16..<20 | sender's rank |
/// | 20..<24 | world size |
/// | 24..<28 | intended receiver's rank |
///
/// The hello is followed by the connector's 16-byte challenge. The acceptor answers with its own
/// challenge and its proof (HMAC-SHA256 of the job secret over the connector's challenge and the
/// hello), the connector checks it and sends its proof over the acceptor's challenge, and the
/// acceptor answers with 8 bytes: the magic and a ``Status``. So both ends prove they know the
/// secret, which never crosses the wire.
package struct TCPHello: Sendable, Hashable {
    package static let magic: UInt32 = 0x4C4C_4F43
    package static let version: UInt16 = 1
    package static let size = 28
    package static let replySize = 8

    package var version: UInt16 = TCPHello.version
    package var jobID: UInt64
    package var rank: UInt32
    package var worldSize: UInt32
    package var receiver: UInt32
    /// Which of the pair's streams this connection is, and how many there are.
    package var stream: UInt8 = 0
    package var streams: UInt8 = 1
    /// Every data frame carries an authentication tag (``TCPOptions/authenticateFrames``).
    package var authenticatesFrames = false

    package init(jobID: UInt64, rank: Int, worldSize: Int, receiver: Int, stream: Int = 0, streams: Int = 1, authenticatesFrames: Bool = false) {
        self.stream = UInt8(stream)
        self.streams = UInt8(streams)
        self.authenticatesFrames = authenticatesFrames
        self.jobID = jobID
        self.rank = UInt32(rank)
        self.worldSize = UInt32(worldSize)
        self.receiver = UInt32(receiver)
    }

    /// The answer to a hello.
    package enum Status: UInt32, Sendable {
        case accepted = 0
        case badMagic = 1
        case wrongVersion = 2
        case wrongJob = 3
        case wrongWorldSize = 4
        case wrongRank = 5
        case duplicateRank = 6
        case wrongStreamCount = 7
        case wrongSecret = 8
        case frameAuthenticationDiffers = 9

        package var explanation: String {
            switch self {
            case .accepted: return "accepted"
            case .badMagic: return "not a swift-collectives connection (bad magic number)"
            case .wrongVersion: return "protocol version differs"
            case .wrongJob: return "belongs to another job (job id differs)"
            case .wrongWorldSize: return "world size differs"
            case .wrongRank: return "rank is not one this rank accepts connections from"
            case .duplicateRank: return "another connection already claimed this rank and stream"
            case .wrongStreamCount: return "streams per peer differ (set COLLECTIVES_TCP_STREAMS alike on every rank)"
            case .wrongSecret: return "could not prove it knows the job's secret (COLLECTIVES_JOB_SECRET differs or is missing)"
            case .frameAuthenticationDiffers: return "frame authentication differs (set COLLECTIVES_AUTHENTICATE_DATA alike on every rank)"
            }
        }
    }

    package func encoded() -> [UInt8] {
        var w = ByteWriter(capacity: TCPHello.size)
        w.write(TCPHello.magic)
        w.write(version)
        w.write(stream)
        w.write(streams | (authenticatesFrames ? 0x80 : 0))
        w.write(jobID)
        w.write(rank)
        w.write(worldSize)
        w.write(receiver)
        return w.bytes
    }

    /// Decodes a hello; a wrong magic number or short input is ``Status/badMagic``.
    package static func decode(_ bytes: [UInt8]) -> Result<TCPHello, StatusError> {
        var r = ByteReader(bytes)
        guard bytes.count == size, r.read(UInt32.self) == magic,
              let version = r.read(UInt16.self), let stream = r.read(UInt8.self), let streams = r.read(UInt8.self),
              let job = r.read(UInt64.self), let rank = r.read(UInt32.self),
              let world = r.read(UInt32.self), let receiver = r.read(UInt32.self)
        else { return .failure(StatusError(status: .badMagic)) }
        var hello = TCPHello(jobID: job, rank: Int(rank), worldSize: Int(world), receiver: Int(receiver),
                             stream: Int(stream), streams: Int(Swift.max(streams & 0x7F, 1)), authenticatesFrames: streams & 0x80 != 0)
        hello.version = version
        return .success(hello)
    }

    /// Checks a hello received by `rank`, which accepts connections from ranks above it.
    package func validate(jobID: UInt64, rank: Int, worldSize: Int, streams: Int = 1, authenticatesFrames: Bool = false) -> Status {
        if version != TCPHello.version { return .wrongVersion }
        if self.jobID != jobID { return .wrongJob }
        if Int(self.worldSize) != worldSize { return .wrongWorldSize }
        if Int(self.streams) != streams || Int(stream) >= streams { return .wrongStreamCount }
        if self.authenticatesFrames != authenticatesFrames { return .frameAuthenticationDiffers }
        if Int(receiver) != rank || Int(self.rank) <= rank || Int(self.rank) >= worldSize { return .wrongRank }
        return .accepted
    }

    package static func encodeReply(_ status: Status) -> [UInt8] {
        var w = ByteWriter(capacity: replySize)
        w.write(magic)
        w.write(status.rawValue)
        return w.bytes
    }

    package static func decodeReply(_ bytes: [UInt8]) -> Status? {
        var r = ByteReader(bytes)
        guard r.read(UInt32.self) == magic, let raw = r.read(UInt32.self) else { return nil }
        return Status(rawValue: raw)
    }

    /// A hello that failed to decode, carrying the status to answer with.
    package struct StatusError: Error, Sendable {
        package let status: Status
    }

    /// What the acceptor's proof vouches for.
    package static func acceptorContext(_ hello: [UInt8]) -> [UInt8] { Array("swift-collectives accept".utf8) + hello }
    /// What the connector's proof vouches for.
    package static func connectorContext(_ hello: [UInt8]) -> [UInt8] { Array("swift-collectives connect".utf8) + hello }

    /// The key of a connection whose frames are authenticated: HMAC-SHA256(secret,
    /// "swift-collectives frames" ‖ hello ‖ connector's challenge ‖ acceptor's challenge).
    package static func frameKey(secret: JobSecret, hello: [UInt8], connectorChallenge: [UInt8], acceptorChallenge: [UInt8]) -> [UInt8] {
        secret.answer(connectorChallenge + acceptorChallenge, context: Array("swift-collectives frames".utf8) + hello)
    }

    /// The key that tags frames going one way on a connection with key `connectionKey`:
    /// HMAC-SHA256(connectionKey, "swift-collectives frames from" ‖ sender u32 ‖ receiver u32).
    /// Each direction has its own, so a frame sent back to its sender (reflected) never verifies.
    package static func directionKey(connectionKey: [UInt8], sender: Int, receiver: Int) -> [UInt8] {
        var ranks = ByteWriter()
        ranks.write(UInt32(truncatingIfNeeded: sender))
        ranks.write(UInt32(truncatingIfNeeded: receiver))
        return JobSecret(bytes: connectionKey).answer(ranks.bytes, context: Array("swift-collectives frames from".utf8))
    }
}
