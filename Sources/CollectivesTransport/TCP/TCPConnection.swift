import CollectivesSystem
import Crypto

/// One data connection to a peer, with its queues of posted sends and receives.
///
/// Sends go out head first, each as header then payload in one `sendmsg`. Receives are filled
/// head first: the header is read with at most the first ``stagingBytes`` of the payload into
/// memory of the connection's own, checked against the receive, and only then is the payload
/// copied (or, past the staged part, read straight) into the posted buffer; so a mismatched
/// frame never writes a byte of the caller's buffer, and small messages still take one
/// `recvmsg`. Not thread-safe: ``TCPTransport`` guards it.
///
/// With a connection key (``TCPOptions/authenticateFrames``), every frame is followed by a
/// 32-byte tag, HMAC-SHA256(direction key, sequence ‖ header ‖ payload), sequence counting the
/// frames sent that way on this connection, under a key of the direction
/// (``TCPHello/directionKey(connectionKey:sender:receiver:)``), so a frame reflected back to its
/// sender does not verify. An authenticated frame's payload is read into memory of the
/// connection's own and reaches the posted buffer only once its tag is right: a frame that fails
/// its check never writes a byte of the caller's buffer.
final class TCPConnection {
    struct Pending {
        var base: UnsafeMutableRawPointer?
        var count: Int
        var tag: MessageTag
        /// Bytes of header plus payload (plus authentication tag) moved so far.
        var done: Int
        var request: TransportRequest
        /// The frame's authentication tag, for a send on an authenticated connection.
        var mac = MAC()
    }

    /// 32 bytes of authentication tag, stored inline.
    struct MAC {
        var words: (UInt64, UInt64, UInt64, UInt64) = (0, 0, 0, 0)
    }

    static let macBytes = 32

    /// Payload bytes read together with a header, before it is checked.
    static let stagingBytes = 8192

    let peer: Int
    let socket: Socket
    private(set) var sends: [Pending] = []
    private var sendHead = 0
    private(set) var receives: [Pending] = []
    private var receiveHead = 0
    /// Where an incoming header lands, followed by the payload staged with it.
    private let headerIn = UnsafeMutableRawPointer.allocate(byteCount: FrameHeader.size + TCPConnection.stagingBytes, alignment: 8)
    /// Set once the connection is unusable; later posts fail with it.
    var failure: TransportError?
    /// The peer shut down its side while nothing was expected from it.
    var peerShutDown = false
    /// When frames are authenticated: HMACs keyed with the keys of each direction, before any
    /// data. Each tag starts from a copy, so the key's padding is worked out once, not per frame.
    private let sendSeed: HMAC<SHA256>?
    private let receiveSeed: HMAC<SHA256>?
    /// Where an authenticated frame's payload waits for its tag to be checked (grown to the
    /// largest frame, then reused).
    private var verifiedStaging = UnsafeMutableRawBufferPointer(start: nil, count: 0)
    private var sentFrames: UInt64 = 0
    private var receivedFrames: UInt64 = 0
    /// Where an incoming frame's authentication tag lands.
    private let macIn = UnsafeMutableRawPointer.allocate(byteCount: TCPConnection.macBytes, alignment: 8)
    /// Bytes after the payload of every frame: the tag, or nothing.
    let trailerBytes: Int

    init(peer: Int, rank: Int, socket: Socket, key: [UInt8]? = nil) {
        self.peer = peer
        self.socket = socket
        sendSeed = key.map {
            HMAC<SHA256>(key: SymmetricKey(data: TCPHello.directionKey(connectionKey: $0, sender: rank, receiver: peer)))
        }
        receiveSeed = key.map {
            HMAC<SHA256>(key: SymmetricKey(data: TCPHello.directionKey(connectionKey: $0, sender: peer, receiver: rank)))
        }
        trailerBytes = key == nil ? 0 : Self.macBytes
        sends.reserveCapacity(64)
        receives.reserveCapacity(64)
    }

    deinit {
        headerIn.deallocate()
        macIn.deallocate()
        verifiedStaging.deallocate()
    }

    var authenticates: Bool { sendSeed != nil }

    /// HMAC-SHA256(direction key, sequence ‖ header ‖ payload), from `seed` (that key's HMAC).
    private func authenticationCode(_ seed: HMAC<SHA256>, sequence: UInt64, header: UnsafeRawBufferPointer,
                                    payload: UnsafeRawBufferPointer) -> HMAC<SHA256>.MAC {
        var mac = seed
        withUnsafeBytes(of: sequence.littleEndian) { mac.update(data: $0) }
        mac.update(data: header)
        mac.update(data: payload)
        return mac.finalize()
    }

    /// The same, kept inline in a pending send (no allocation).
    private func authenticationTag(sequence: UInt64, header: UnsafeRawBufferPointer, payload: UnsafeRawBufferPointer) -> MAC {
        var result = MAC()
        withUnsafeMutableBytes(of: &result.words) { out in
            authenticationCode(sendSeed!, sequence: sequence, header: header, payload: payload).withUnsafeBytes { out.copyMemory(from: $0) }
        }
        return result
    }

    var hasPendingSends: Bool { sendHead < sends.count }
    var hasPendingReceives: Bool { receiveHead < receives.count }

    func enqueueSend(_ send: Pending) {
        var send = send
        if authenticates {
            // The payload stays as it is until the send completes: tag it now.
            var header = FrameHeader(tag: send.tag, length: UInt64(send.count)).words
            send.mac = withUnsafeBytes(of: &header) { headerBytes in
                authenticationTag(sequence: sentFrames, header: headerBytes,
                                  payload: UnsafeRawBufferPointer(start: send.base, count: send.count))
            }
            sentFrames += 1
        }
        sends.append(send)
    }
    func enqueueReceive(_ receive: Pending) { receives.append(receive) }

    /// Writes as much as the socket takes. Calls `complete` for each finished send; returns
    /// whether any byte moved.
    func progressSends(rank: Int, complete: (TransportRequest) -> Void) throws(TransportError) -> Bool {
        var moved = false
        while sendHead < sends.count {
            var op = sends[sendHead]
            let total = FrameHeader.size + op.count + trailerBytes
            var header = FrameHeader(tag: op.tag, length: UInt64(op.count)).words
            var mac = op.mac
            let payload = UnsafeRawBufferPointer(start: op.base, count: op.count)
            let trailer = trailerBytes
            // Header, payload and tag, from where the last call stopped.
            let sent = withUnsafeBytes(of: &header) { headerBytes in
                withUnsafeBytes(of: &mac.words) { macBytes in
                    Result { () throws(SocketError) in
                        try socket.trySendGathering(headerBytes, payload, UnsafeRawBufferPointer(rebasing: macBytes[0..<trailer]),
                                                    skipping: op.done)
                    }
                }
            }
            let n: Int
            switch sent {
            case .success(.done(let count)): n = count
            case .success(.wouldBlock): return moved
            case .failure(let error): throw TransportError(error, rank: rank, peer: peer, operation: .send)
            }
            moved = true
            op.done += n
            if op.done == total {
                sendHead += 1
                complete(op.request)
            } else {
                sends[sendHead] = op
                return moved
            }
        }
        sends.removeAll(keepingCapacity: true)
        sendHead = 0
        return moved
    }

    /// Reads as much as has arrived for the posted receives. Calls `complete` for each one
    /// filled; returns whether any byte moved.
    func progressReceives(rank: Int, complete: (TransportRequest) -> Void) throws(TransportError) -> Bool {
        var moved = false
        while receiveHead < receives.count {
            var op = receives[receiveHead]
            let payloadEnd = FrameHeader.size + op.count
            let total = payloadEnd + trailerBytes
            let readingHeader = op.done < FrameHeader.size
            if op.done == 0 && authenticates { reserveVerifiedStaging(op.count) }
            let destination: UnsafeMutableRawPointer, requested: Int
            if readingHeader {
                // The header, and the start of the payload into staging: never past this frame.
                destination = headerIn + op.done
                requested = FrameHeader.size - op.done + Swift.min(op.count, Self.stagingBytes)
            } else if op.done < payloadEnd {
                let offset = op.done - FrameHeader.size
                destination = payloadDestination(op) + offset
                requested = op.count - offset
            } else {
                // The authentication tag after the payload.
                destination = macIn + (op.done - payloadEnd)
                requested = total - op.done
            }
            let n: Int
            do {
                switch try socket.tryReceive(destination, count: requested) {
                case .done(let count): n = count
                case .wouldBlock: return moved
                }
            } catch {
                throw TransportError(error, rank: rank, peer: peer, operation: .receive)
            }
            if n == 0 {
                throw TransportError(.peerGone, rank: rank, peer: peer, operation: "receive", peerAddress: socket.remoteDescription)
            }
            moved = true
            op.done += n
            if readingHeader, op.done >= FrameHeader.size {
                // The header is whole: check it, then let the staged payload through.
                if let error = FrameHeader.load(from: headerIn).mismatch(expected: op.tag, expectedBytes: op.count, sender: peer,
                                                                         receiver: rank, peerAddress: socket.remoteDescription) {
                    throw error
                }
                let staged = op.done - FrameHeader.size
                if staged > 0 { payloadDestination(op).copyMemory(from: headerIn + FrameHeader.size, byteCount: staged) }
            }
            if op.done == total {
                if authenticates {
                    try checkAuthentication(of: op, rank: rank)
                    // Only now does the payload reach the caller's buffer.
                    if op.count > 0 { op.base!.copyMemory(from: verifiedStaging.baseAddress!, byteCount: op.count) }
                }
                receiveHead += 1
                complete(op.request)
            } else {
                receives[receiveHead] = op
                // A short read means the socket is drained; a full one (the header with its
                // staged payload, or the payload before its tag) goes on at once.
                if n < requested { return moved }
            }
        }
        receives.removeAll(keepingCapacity: true)
        receiveHead = 0
        return moved
    }

    /// Where a receive's payload is read to: the posted buffer, or on an authenticated
    /// connection the staging that holds it until its tag is checked.
    @inline(__always)
    private func payloadDestination(_ op: Pending) -> UnsafeMutableRawPointer {
        authenticates ? verifiedStaging.baseAddress! : op.base!
    }

    /// Makes the verified staging hold at least `bytes` (one allocation per new largest frame).
    private func reserveVerifiedStaging(_ bytes: Int) {
        guard verifiedStaging.count < Swift.max(bytes, 1) else { return }
        verifiedStaging.deallocate()
        verifiedStaging = .allocate(byteCount: Swift.max(bytes, 64, verifiedStaging.count * 2), alignment: 64)
    }

    /// Checks the tag of the frame just read into the verified staging (its header is still in
    /// `headerIn`).
    private func checkAuthentication(of op: Pending, rank: Int) throws(TransportError) {
        let expected = authenticationCode(receiveSeed!, sequence: receivedFrames,
                                          header: UnsafeRawBufferPointer(start: headerIn, count: FrameHeader.size),
                                          payload: UnsafeRawBufferPointer(start: verifiedStaging.baseAddress, count: op.count))
        receivedFrames += 1
        // swift-crypto's comparison, in constant time (as the store's tags are checked).
        let same = expected == UnsafeRawBufferPointer(start: macIn, count: Self.macBytes)
        guard same else {
            throw TransportError(.protocolViolation("a frame from rank \(peer) failed authentication (altered on the way, or not from rank \(peer))"),
                                 rank: rank, peer: peer, operation: "receive", peerAddress: socket.remoteDescription)
        }
    }

    /// The requests still queued; used to fail them all at once.
    func pendingRequests() -> [TransportRequest] {
        sends[sendHead...].map(\.request) + receives[receiveHead...].map(\.request)
    }

    /// Forgets every queued request (after they were failed).
    func dropPending() {
        sends.removeAll()
        sendHead = 0
        receives.removeAll()
        receiveHead = 0
    }
}
