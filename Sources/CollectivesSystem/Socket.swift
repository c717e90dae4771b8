#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import CCollectivesShim

/// A TCP socket file descriptor in non-blocking mode, with blocking helpers that take deadlines.
///
/// Every wait goes through `poll(2)`, so a thread that waits sleeps in the kernel. One thread may
/// send while another receives; two threads must not send (or receive) at once.
public final class Socket: @unchecked Sendable {
    /// The file descriptor, or -1 once closed.
    @usableFromInline package private(set) var descriptor: Int32
    /// The remote address as text, for error messages (empty for listening sockets).
    @usableFromInline package let remoteDescription: String?

    /// Takes ownership of `descriptor` and puts it in non-blocking mode.
    package init(descriptor: Int32, remoteDescription: String? = nil) {
        self.descriptor = descriptor
        self.remoteDescription = remoteDescription
        let flags = fcntl(descriptor, F_GETFL)
        _ = fcntl(descriptor, F_SETFL, flags | O_NONBLOCK)
        _ = fcntl(descriptor, F_SETFD, FD_CLOEXEC)
    }

    deinit { close() }

    /// Closes the descriptor; later calls do nothing.
    public func close() {
        if descriptor >= 0 {
            _ = Glibc.close(descriptor)
            descriptor = -1
        }
    }

    /// Shuts down both directions without closing the descriptor, waking any thread in `poll`.
    package func shutdown() {
        if descriptor >= 0 { _ = Glibc.shutdown(descriptor, Int32(SHUT_RDWR)) }
    }

    // MARK: Creating

    private static func makeDescriptor(family: Int32) throws(SocketError) -> Int32 {
        do {
            // Close-on-exec from the start: a process another thread spawns meanwhile (the
            // launcher, a user's subprocess) must not inherit the job's connections.
            return try systemCallBlocking("socket") {
                Glibc.socket(family, socketStreamType | Int32(SOCK_CLOEXEC.rawValue) | Int32(SOCK_NONBLOCK.rawValue), 0)
            }
        } catch { throw .system(error) }
    }

    /// A listening socket bound to `address` (port 0 picks a free port).
    /// A port already in use fails with `EADDRINUSE`, naming the address.
    public static func listen(on address: SocketAddress, backlog: Int32 = 1024) throws(SocketError) -> Socket {
        let fd = try makeDescriptor(family: address.family)
        let socket = Socket(descriptor: fd)
        var one: Int32 = 1
        _ = setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, socklen_t(MemoryLayout<Int32>.size))
        do {
            _ = try systemCallBlocking("bind", remote: address.description) {
                address.withSockAddr { Glibc.bind(fd, $0, $1) }
            }
            _ = try systemCallBlocking("listen", remote: address.description) { Glibc.listen(fd, backlog) }
        } catch { throw .system(error) }
        return socket
    }

    /// Connects to `address`, failing with a ``SocketError`` once `deadline` passes.
    public static func connect(to address: SocketAddress, deadline: Deadline) throws(SocketError) -> Socket {
        let fd = try makeDescriptor(family: address.family)
        let socket = Socket(descriptor: fd, remoteDescription: address.description)
        let rc = address.withSockAddr { Glibc.connect(fd, $0, $1) }
        if rc == 0 { return socket }
        let code = errno
        guard code == EINPROGRESS || code == EINTR else {
            throw .system(SystemError(call: "connect", errno: code, remote: address.description))
        }
        guard try socket.wait(forWriting: true, deadline: deadline) else {
            throw .timedOut(operation: "connect", remote: address.description)
        }
        var error: Int32 = 0
        var length = socklen_t(MemoryLayout<Int32>.size)
        _ = getsockopt(fd, SOL_SOCKET, SO_ERROR, &error, &length)
        if error != 0 { throw .system(SystemError(call: "connect", errno: error, remote: address.description)) }
        return socket
    }

    /// Accepts one connection, or returns `nil` when `deadline` passes first.
    package func accept(deadline: Deadline) throws(SocketError) -> Socket? {
        while true {
            var storage = sockaddr_storage()
            var length = socklen_t(MemoryLayout<sockaddr_storage>.size)
            let fd = withUnsafeMutableBytes(of: &storage) { raw in
                collectives_accept_cloexec(descriptor, raw.baseAddress, &length)
            }
            if fd >= 0 {
                let remote = SocketAddress(storage: storage, length: length)
                return Socket(descriptor: fd, remoteDescription: remote.description)
            }
            let code = errno
            if code == EINTR || code == ECONNABORTED { continue }
            guard code == EAGAIN || code == EWOULDBLOCK else {
                throw .system(SystemError(call: "accept", errno: code))
            }
            guard try wait(forWriting: false, deadline: deadline) else { return nil }
        }
    }

    // MARK: Options and addresses

    /// Turns off Nagle's algorithm, so small messages leave at once.
    package func setNoDelay() {
        var one: Int32 = 1
        _ = setsockopt(descriptor, Int32(IPPROTO_TCP), TCP_NODELAY, &one, socklen_t(MemoryLayout<Int32>.size))
    }

    /// Makes a peer that vanishes (a host that lost power or its network, with nothing to send
    /// a reset) an error on this socket within about `seconds`: TCP keepalive probes once the
    /// connection has been idle for a third of it, and a user timeout (`TCP_USER_TIMEOUT`) that
    /// bounds both unacknowledged data and unanswered probes. A peer that is merely slow to
    /// compute keeps its connection: its kernel answers the probes.
    package func setLivenessTimeout(seconds: Double) {
        guard seconds > 0, seconds.isFinite else { return }
        func set(_ level: Int32, _ option: Int32, _ value: Int32) {
            var value = value
            _ = setsockopt(descriptor, level, option, &value, socklen_t(MemoryLayout<Int32>.size))
        }
        let total = Swift.max(3, Swift.min(seconds, 3600))
        let idle = Swift.max(1, Int32(total / 3))
        let interval = Swift.max(1, Int32(total / 6))
        set(SOL_SOCKET, SO_KEEPALIVE, 1)
        set(Int32(IPPROTO_TCP), TCP_KEEPIDLE, idle)
        set(Int32(IPPROTO_TCP), TCP_KEEPINTVL, interval)
        set(Int32(IPPROTO_TCP), TCP_KEEPCNT, Swift.max(1, Int32(total) / interval))
        set(Int32(IPPROTO_TCP), TCP_USER_TIMEOUT, Int32(total * 1000))
    }

    /// Asks for send and receive buffers of `bytes` each (the kernel caps them at
    /// `net.core.wmem_max` / `rmem_max`). Returns the sizes granted.
    @discardableResult
    package func setBufferSizes(_ bytes: Int32) -> (send: Int32, receive: Int32) {
        var value = bytes
        _ = setsockopt(descriptor, SOL_SOCKET, SO_SNDBUF, &value, socklen_t(MemoryLayout<Int32>.size))
        _ = setsockopt(descriptor, SOL_SOCKET, SO_RCVBUF, &value, socklen_t(MemoryLayout<Int32>.size))
        var send: Int32 = 0, receive: Int32 = 0
        var length = socklen_t(MemoryLayout<Int32>.size)
        _ = getsockopt(descriptor, SOL_SOCKET, SO_SNDBUF, &send, &length)
        _ = getsockopt(descriptor, SOL_SOCKET, SO_RCVBUF, &receive, &length)
        return (send, receive)
    }

    /// The local address the socket is bound to.
    public func localAddress() throws(SocketError) -> SocketAddress {
        var storage = sockaddr_storage()
        var length = socklen_t(MemoryLayout<sockaddr_storage>.size)
        let rc = withUnsafeMutableBytes(of: &storage) { raw in
            getsockname(descriptor, raw.baseAddress!.assumingMemoryBound(to: sockaddr.self), &length)
        }
        if rc != 0 { throw .system(SystemError(call: "getsockname", errno: errno)) }
        return SocketAddress(storage: storage, length: length)
    }

    // MARK: Waiting

    /// Sleeps until the socket is readable (or writable), or the deadline passes (`false`).
    /// Errors and hang-ups count as ready, so that the next call reports them.
    package func wait(forWriting: Bool, deadline: Deadline) throws(SocketError) -> Bool {
        var entry = pollfd(fd: descriptor, events: Int16(forWriting ? POLLOUT : POLLIN), revents: 0)
        while true {
            let rc = poll(&entry, 1, deadline.pollTimeoutMilliseconds)
            if rc > 0 { return true }
            if rc == 0 {
                if deadline.hasPassed { return false }
                continue
            }
            if errno == EINTR { continue }
            throw .system(SystemError(call: "poll", errno: errno, remote: remoteDescription))
        }
    }

    // MARK: Non-blocking I/O

    /// One `send(2)` of up to `count` bytes; `.wouldBlock` when the send buffer is full.
    @inlinable
    package func trySend(_ bytes: UnsafeRawPointer, count: Int) throws(SocketError) -> IOResult<Int> {
        do {
            return try systemCall("send", remote: remoteDescription) {
                Glibc.send(descriptor, bytes, count, Int32(MSG_NOSIGNAL))
            }
        } catch { throw .system(error) }
    }

    /// One `recv(2)` of up to `count` bytes without waiting (the socket is non-blocking, and
    /// `MSG_DONTWAIT` says so again): `.wouldBlock` when nothing has arrived, `.done(0)` when the
    /// peer closed the connection.
    @inlinable
    package func tryReceive(_ bytes: UnsafeMutableRawPointer, count: Int) throws(SocketError) -> IOResult<Int> {
        do {
            return try systemCall("recv", remote: remoteDescription) {
                Glibc.recv(descriptor, bytes, count, Int32(MSG_DONTWAIT))
            }
        } catch { throw .system(error) }
    }

    /// One `sendmsg(2)` of `first`, `second` and `third` in that order, less their first `skip`
    /// bytes, without waiting; `.wouldBlock` when the send buffer is full. Empty parts are left out.
    @inlinable
    package func trySendGathering(_ first: UnsafeRawBufferPointer, _ second: UnsafeRawBufferPointer,
                                  _ third: UnsafeRawBufferPointer, skipping skip: Int) throws(SocketError) -> IOResult<Int> {
        var vectors = (iovec(), iovec(), iovec())
        let used = withUnsafeMutableBytes(of: &vectors) { raw in
            let vector = raw.baseAddress!.assumingMemoryBound(to: iovec.self)
            var used = 0, skip = skip
            func add(_ part: UnsafeRawBufferPointer) {
                if skip >= part.count {
                    skip -= part.count
                    return
                }
                vector[used] = iovec(iov_base: UnsafeMutableRawPointer(mutating: part.baseAddress! + skip), iov_len: part.count - skip)
                used += 1
                skip = 0
            }
            add(first)
            add(second)
            add(third)
            return used
        }
        do {
            return try systemCall("sendmsg", remote: remoteDescription) {
                withUnsafeMutableBytes(of: &vectors) { raw in
                    var message = msghdr()
                    message.msg_iov = raw.baseAddress!.assumingMemoryBound(to: iovec.self)
                    message.msg_iovlen = used
                    return sendmsg(descriptor, &message, Int32(MSG_NOSIGNAL) | Int32(MSG_DONTWAIT))
                }
            }
        } catch { throw .system(error) }
    }

    // MARK: Blocking I/O with deadlines

    /// Sends every byte of `buffer` or throws.
    package func sendAll(_ buffer: UnsafeRawBufferPointer, deadline: Deadline,
                        operation: String = "send") throws(SocketError) {
        guard let base = buffer.baseAddress else { return }
        var offset = 0
        while offset < buffer.count {
            switch try trySend(base + offset, count: buffer.count - offset) {
            case .done(let n): offset += n
            case .wouldBlock:
                guard try wait(forWriting: true, deadline: deadline) else {
                    throw .timedOut(operation: operation, remote: remoteDescription)
                }
            }
        }
    }

    /// Fills `buffer` completely or throws; a peer that closes first is ``SocketError/closedByPeer(operation:remote:)``.
    package func receiveAll(into buffer: UnsafeMutableRawBufferPointer, deadline: Deadline,
                           operation: String = "receive") throws(SocketError) {
        guard let base = buffer.baseAddress else { return }
        var offset = 0
        while offset < buffer.count {
            switch try tryReceive(base + offset, count: buffer.count - offset) {
            case .done(0): throw .closedByPeer(operation: operation, remote: remoteDescription)
            case .done(let n): offset += n
            case .wouldBlock:
                guard try wait(forWriting: false, deadline: deadline) else {
                    throw .timedOut(operation: operation, remote: remoteDescription)
                }
            }
        }
    }

    /// Sends the bytes of `array`.
    package func sendAll(_ array: [UInt8], deadline: Deadline, operation: String = "send") throws(SocketError) {
        let result: Result<Void, SocketError> = array.withUnsafeBytes { raw in
            Result { () throws(SocketError) in try sendAll(raw, deadline: deadline, operation: operation) }
        }
        try result.get()
    }

    /// Receives exactly `count` bytes.
    package func receive(count: Int, deadline: Deadline, operation: String = "receive") throws(SocketError) -> [UInt8] {
        var bytes = [UInt8](repeating: 0, count: count)
        let result: Result<Void, SocketError> = bytes.withUnsafeMutableBytes { raw in
            Result { () throws(SocketError) in try receiveAll(into: raw, deadline: deadline, operation: operation) }
        }
        try result.get()
        return bytes
    }
}
