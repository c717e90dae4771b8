import CollectivesSystem
import Crypto

/// One authenticated store connection's framing: every frame carries a tag under the
/// connection's key, over its direction and its sequence number, so that nothing on the path can
/// forge, reorder or replay a frame (see ``TCPStoreMessage``).
struct TCPStoreSession {
    enum Role { case client, server }

    private let key: SymmetricKey
    private let sendDirection: UInt8
    private var sent: UInt64 = 0
    private var received: UInt64 = 0

    /// The session both ends derive from the job secret and the two challenges.
    init(secret: JobSecret, clientChallenge: [UInt8], serverChallenge: [UInt8], role: Role) {
        key = SymmetricKey(data: secret.answer(clientChallenge + serverChallenge, context: TCPStoreMessage.sessionContext))
        sendDirection = role == .client ? 0 : 1
    }

    private func tag(direction: UInt8, sequence: UInt64, payload: [UInt8]) -> HMAC<SHA256>.MAC {
        var mac = HMAC<SHA256>(key: key)
        var header = ByteWriter(capacity: 9)
        header.write(direction)
        header.write(sequence)
        mac.update(data: header.bytes)
        mac.update(data: payload)
        return mac.finalize()
    }

    /// Sends one frame.
    mutating func send(_ payload: [UInt8], on socket: Socket, deadline: Deadline, operation: String) throws(SocketError) {
        var w = ByteWriter(capacity: payload.count + 4 + TCPStoreMessage.tagBytes)
        w.write(UInt32(payload.count))
        var frame = w.bytes + payload
        frame += Array(tag(direction: sendDirection, sequence: sent, payload: payload))
        sent += 1
        try socket.sendAll(frame, deadline: deadline, operation: operation)
    }

    /// Why a frame was not accepted.
    enum FrameError: Error {
        case tooLarge(Int)
        case badTag
        case socket(SocketError)
    }

    /// Reads one frame and checks its tag.
    mutating func receive(on socket: Socket, deadline: Deadline, operation: String) throws(FrameError) -> [UInt8] {
        do {
            var r = ByteReader(try socket.receive(count: 4, deadline: deadline, operation: operation))
            let length = Int(r.read(UInt32.self) ?? 0)
            guard length <= TCPStoreMessage.maximumFrame else { throw FrameError.tooLarge(length) }
            let payload = try socket.receive(count: length, deadline: deadline, operation: operation)
            let tag = try socket.receive(count: TCPStoreMessage.tagBytes, deadline: deadline, operation: operation)
            guard self.tag(direction: 1 - sendDirection, sequence: received, payload: payload) == tag else { throw FrameError.badTag }
            received += 1
            return payload
        } catch let error as FrameError {
            throw error
        } catch let error as SocketError {
            throw .socket(error)
        } catch {
            throw .badTag
        }
    }
}
