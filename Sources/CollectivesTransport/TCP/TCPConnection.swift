#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import CollectivesSystem

/// One data connection to a peer, with its queues of posted sends and receives.
///
/// Sends go out head first, each as header then payload in one `sendmsg`; receives are filled
/// head first, header and payload read with one `recvmsg` straight into the posted buffer.
/// Not thread-safe: ``TCPTransport`` guards it.
final class TCPConnection {
    struct PendingSend {
        var base: UnsafeRawPointer?
        var count: Int
        var tag: MessageTag
        /// Bytes of header plus payload written so far.
        var done: Int
        var slot: Int
    }

    struct PendingReceive {
        var base: UnsafeMutableRawPointer?
        var count: Int
        var tag: MessageTag
        /// Bytes of header plus payload read so far.
        var done: Int
        var slot: Int
    }

    let peer: Int
    let socket: Socket
    private(set) var sends: [PendingSend] = []
    private var sendHead = 0
    private(set) var receives: [PendingReceive] = []
    private var receiveHead = 0
    /// Where an incoming header lands.
    private let headerIn = UnsafeMutableRawPointer.allocate(byteCount: TCPFrameHeader.size, alignment: 8)
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

    func enqueueSend(_ send: PendingSend) { sends.append(send) }
    func enqueueReceive(_ receive: PendingReceive) { receives.append(receive) }

    /// Writes as much as the socket takes. Calls `complete` for each finished send.
    func progressSends(rank: Int, complete: (Int) -> Void) throws(TransportError) {
        while sendHead < sends.count {
            var op = sends[sendHead]
            let total = TCPFrameHeader.size + op.count
            var header = (UInt64(0), UInt64(0), UInt64(0), UInt64(0))
            let n: Int = withUnsafeMutableBytes(of: &header) { headerBytes in
                var vectors = (iovec(), iovec())
                var used = 0
                withUnsafeMutableBytes(of: &vectors) { raw in
                    let iov = raw.baseAddress!.assumingMemoryBound(to: iovec.self)
                    if op.done < TCPFrameHeader.size {
                        TCPFrameHeader(tag: op.tag, length: UInt64(op.count)).store(to: headerBytes.baseAddress!)
                        iov[used] = iovec(iov_base: headerBytes.baseAddress! + op.done, iov_len: TCPFrameHeader.size - op.done)
                        used += 1
                        if op.count > 0 {
                            iov[used] = iovec(iov_base: UnsafeMutableRawPointer(mutating: op.base), iov_len: op.count)
                            used += 1
                        }
                    } else {
                        let offset = op.done - TCPFrameHeader.size
                        iov[used] = iovec(iov_base: UnsafeMutableRawPointer(mutating: op.base! + offset), iov_len: op.count - offset)
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
                if code == EAGAIN || code == EWOULDBLOCK { return }
                throw TransportError(SocketError.system(SystemError(call: "sendmsg", errno: code, remote: socket.remoteDescription)),
                                     rank: rank, peer: peer, operation: "send")
            }
            op.done += n
            if op.done == total {
                sendHead += 1
                complete(op.slot)
            } else {
                sends[sendHead] = op
                return
            }
        }
        sends.removeAll(keepingCapacity: true)
        sendHead = 0
    }

    /// Reads as much as has arrived for the posted receives. Calls `complete` for each one filled.
    func progressReceives(rank: Int, complete: (Int) -> Void) throws(TransportError) {
        while receiveHead < receives.count {
            var op = receives[receiveHead]
            let total = TCPFrameHeader.size + op.count
            var vectors = (iovec(), iovec())
            let n: Int = withUnsafeMutableBytes(of: &vectors) { raw in
                let iov = raw.baseAddress!.assumingMemoryBound(to: iovec.self)
                var used = 0
                if op.done < TCPFrameHeader.size {
                    iov[0] = iovec(iov_base: headerIn + op.done, iov_len: TCPFrameHeader.size - op.done)
                    used = 1
                    if op.count > 0 {
                        iov[1] = iovec(iov_base: op.base, iov_len: op.count)
                        used = 2
                    }
                } else {
                    let offset = op.done - TCPFrameHeader.size
                    iov[0] = iovec(iov_base: op.base! + offset, iov_len: op.count - offset)
                    used = 1
                }
                var message = msghdr()
                message.msg_iov = iov
                message.msg_iovlen = used
                return recvmsg(socket.descriptor, &message, Int32(MSG_DONTWAIT))
            }
            if n < 0 {
                let code = errno
                if code == EINTR { continue }
                if code == EAGAIN || code == EWOULDBLOCK { return }
                throw TransportError(SocketError.system(SystemError(call: "recvmsg", errno: code, remote: socket.remoteDescription)),
                                     rank: rank, peer: peer, operation: "receive")
            }
            if n == 0 {
                throw TransportError(.peerGone, rank: rank, peer: peer, operation: "receive", peerAddress: socket.remoteDescription)
            }
            let before = op.done
            op.done += n
            if before < TCPFrameHeader.size, op.done >= TCPFrameHeader.size {
                let header = TCPFrameHeader.load(from: headerIn)
                if header.tag != op.tag || header.length != UInt64(op.count) {
                    // An absurd length is reported as sent; nothing is allocated for it.
                    let sentBytes = header.length > UInt64(Int.max) ? Int.max : Int(header.length)
                    throw MessageMismatch(sender: peer, receiver: rank, sent: header.tag, sentBytes: sentBytes,
                                          expected: op.tag, expectedBytes: op.count)
                        .error(peerAddress: socket.remoteDescription)
                }
            }
            if op.done == total {
                receiveHead += 1
                complete(op.slot)
            } else {
                receives[receiveHead] = op
                return
            }
        }
        receives.removeAll(keepingCapacity: true)
        receiveHead = 0
    }

    /// The slots of every request still queued; used to fail them all at once.
    func pendingSlots() -> [Int] {
        sends[sendHead...].map(\.slot) + receives[receiveHead...].map(\.slot)
    }

    /// Forgets every queued request (after they were failed).
    func dropPending() {
        sends.removeAll()
        sendHead = 0
        receives.removeAll()
        receiveHead = 0
    }
}
