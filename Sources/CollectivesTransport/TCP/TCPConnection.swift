#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import CollectivesSystem

/// One data connection to a peer, with its queues of posted sends and receives.
///
/// Sends go out head first, each as header then payload in one `sendmsg`. Receives are filled
/// head first: the header is read with at most the first ``stagingBytes`` of the payload into
/// memory of the connection's own, checked against the receive, and only then is the payload
/// copied (or, past the staged part, read straight) into the posted buffer; so a mismatched
/// frame never writes a byte of the caller's buffer, and small messages still take one
/// `recvmsg`. Not thread-safe: ``TCPTransport`` guards it.
final class TCPConnection {
    struct Pending {
        var base: UnsafeMutableRawPointer?
        var count: Int
        var tag: MessageTag
        /// Bytes of header plus payload moved so far.
        var done: Int
        var request: TransportRequest
    }

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

    init(peer: Int, socket: Socket) {
        self.peer = peer
        self.socket = socket
        sends.reserveCapacity(64)
        receives.reserveCapacity(64)
    }

    deinit { headerIn.deallocate() }

    var hasPendingSends: Bool { sendHead < sends.count }
    var hasPendingReceives: Bool { receiveHead < receives.count }

    func enqueueSend(_ send: Pending) { sends.append(send) }
    func enqueueReceive(_ receive: Pending) { receives.append(receive) }

    /// Writes as much as the socket takes. Calls `complete` for each finished send; returns
    /// whether any byte moved.
    func progressSends(rank: Int, complete: (TransportRequest) -> Void) throws(TransportError) -> Bool {
        var moved = false
        while sendHead < sends.count {
            var op = sends[sendHead]
            let total = FrameHeader.size + op.count
            var header = FrameHeader(tag: op.tag, length: UInt64(op.count)).words
            let n: Int = withUnsafeMutableBytes(of: &header) { headerBytes in
                var vectors = (iovec(), iovec())
                var used = 0
                withUnsafeMutableBytes(of: &vectors) { raw in
                    let iov = raw.baseAddress!.assumingMemoryBound(to: iovec.self)
                    if op.done < FrameHeader.size {
                        iov[used] = iovec(iov_base: headerBytes.baseAddress! + op.done, iov_len: FrameHeader.size - op.done)
                        used += 1
                        if op.count > 0 {
                            iov[used] = iovec(iov_base: op.base, iov_len: op.count)
                            used += 1
                        }
                    } else {
                        let offset = op.done - FrameHeader.size
                        iov[used] = iovec(iov_base: op.base! + offset, iov_len: op.count - offset)
                        used += 1
                    }
                }
                return withUnsafeMutableBytes(of: &vectors) { raw in
                    var message = msghdr()
                    message.msg_iov = raw.baseAddress!.assumingMemoryBound(to: iovec.self)
                    message.msg_iovlen = used
                    return sendmsg(socket.descriptor, &message, Int32(MSG_NOSIGNAL) | Int32(MSG_DONTWAIT))
                }
            }
            if n < 0 {
                let code = errno
                if code == EINTR { continue }
                if code == EAGAIN || code == EWOULDBLOCK { return moved }
                throw TransportError(SocketError.system(SystemError(call: "sendmsg", errno: code, remote: socket.remoteDescription)),
                                     rank: rank, peer: peer, operation: "send")
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
            let total = FrameHeader.size + op.count
            let readingHeader = op.done < FrameHeader.size
            var vectors = (iovec(), iovec())
            let n: Int = withUnsafeMutableBytes(of: &vectors) { raw in
                let iov = raw.baseAddress!.assumingMemoryBound(to: iovec.self)
                if readingHeader {
                    // The header, and the start of the payload into staging: never past this frame.
                    iov[0] = iovec(iov_base: headerIn + op.done,
                                   iov_len: FrameHeader.size - op.done + Swift.min(op.count, Self.stagingBytes))
                } else {
                    let offset = op.done - FrameHeader.size
                    iov[0] = iovec(iov_base: op.base! + offset, iov_len: op.count - offset)
                }
                var message = msghdr()
                message.msg_iov = iov
                message.msg_iovlen = 1
                return recvmsg(socket.descriptor, &message, Int32(MSG_DONTWAIT))
            }
            if n < 0 {
                let code = errno
                if code == EINTR { continue }
                if code == EAGAIN || code == EWOULDBLOCK { return moved }
                throw TransportError(SocketError.system(SystemError(call: "recvmsg", errno: code, remote: socket.remoteDescription)),
                                     rank: rank, peer: peer, operation: "receive")
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
                if staged > 0 { op.base!.copyMemory(from: headerIn + FrameHeader.size, byteCount: staged) }
            }
            if op.done == total {
                receiveHead += 1
                complete(op.request)
            } else {
                receives[receiveHead] = op
                if !readingHeader || op.done < FrameHeader.size { return moved }
            }
        }
        receives.removeAll(keepingCapacity: true)
        receiveHead = 0
        return moved
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
