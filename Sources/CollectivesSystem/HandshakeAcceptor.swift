#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// The second half of an opening exchange: what the listener sends once a connection's opening
/// bytes arrived, how many bytes it then expects, and how it judges them.
package struct HandshakeStep<Outcome> {
    /// Sent as soon as the opening bytes are read.
    package var reply: [UInt8]
    /// How many bytes the connection must send next.
    package var expect: Int
    /// Judges those bytes: the last bytes to send, and the outcome (`nil` refuses the
    /// connection, which is closed once the bytes are sent).
    package var conclude: ([UInt8]) -> (reply: [UInt8], outcome: Outcome?)

    package init(reply: [UInt8], expect: Int, conclude: @escaping ([UInt8]) -> (reply: [UInt8], outcome: Outcome?)) {
        self.reply = reply
        self.expect = expect
        self.conclude = conclude
    }
}

/// Why a connection was dropped before it finished its opening exchange.
package enum HandshakeDrop: String, Sendable, CaseIterable {
    /// It sent too little before its time was up.
    case timedOut = "timed out"
    /// It closed or reset the connection.
    case closed = "closed"
    /// Its opening bytes were not what the protocol expects.
    case malformed = "malformed"
    /// It answered, and was refused (wrong secret, job, rank …).
    case refused = "refused"
    /// The listener had too many unfinished exchanges, and this was the oldest.
    case evicted = "evicted"
}

/// Accepts connections and runs their opening exchanges (read N bytes, answer, read M bytes,
/// conclude) side by side on one thread, bounded: at most `maximumPending` unfinished
/// exchanges, each given `stepTimeoutSeconds` per step. When more arrive, the oldest one that has
/// not sent its opening bytes yet is dropped (else the oldest), so silent connections cannot keep
/// a real peer out; a peer that is dropped all the same before its answer connects again (after it, set-up fails). When `accept` fails for
/// want of descriptors or memory (`EMFILE`, `ENFILE`, `ENOBUFS`, `ENOMEM`), the listener drops
/// its oldest unfinished exchange, pauses (10 ms, doubling to 1 s) and goes on.
///
/// No call blocks: a peer can hold up neither the listener nor another peer.
package final class HandshakeAcceptor<Outcome> {
    private struct Pending {
        let socket: Socket
        let serial: UInt64
        var expiry: Deadline
        var buffer: [UInt8]
        var filled = 0
        var step: HandshakeStep<Outcome>?
    }

    private let listener: Socket
    private let openingBytes: Int
    private let maximumPending: Int
    private let stepTimeoutSeconds: Double
    private var pending: [Pending] = []
    private var serial: UInt64 = 0
    private var pausedUntil: Deadline?
    private var pause = 0.01
    /// Connections dropped, by reason, since the acceptor was made.
    package private(set) var drops: [HandshakeDrop: Int] = [:]
    /// Told of every dropped connection: why, who, details, and whether it is the first drop
    /// of its kind (so that a flood can be logged once, not once per connection).
    package var onDrop: (_ reason: HandshakeDrop, _ peer: String, _ detail: String, _ first: Bool) -> Void = { _, _, _, _ in }
    /// Told when `accept` fails for want of resources (once per pause).
    package var onResourceShortage: (SystemError) -> Void = { _ in }

    package init(listener: Socket, openingBytes: Int, maximumPending: Int = 64, stepTimeoutSeconds: Double = 5) {
        self.listener = listener
        self.openingBytes = openingBytes
        self.maximumPending = Swift.max(1, maximumPending)
        self.stepTimeoutSeconds = stepTimeoutSeconds
    }

    deinit { for entry in pending { entry.socket.close() } }

    /// Accepts and runs exchanges until `accepted` returns `true` (stop), `shouldStop` does, or
    /// `deadline` passes (then `false`). `open` answers a connection's opening bytes, or
    /// returns `nil` to drop it. A failure of the listener itself throws.
    package func run(deadline: Deadline, open: ([UInt8]) -> HandshakeStep<Outcome>?,
                    accepted: (Socket, Outcome) -> Bool,
                    shouldStop: () -> Bool = { false }) throws(SocketError) -> Bool {
        var entries: [pollfd] = []
        while true {
            if shouldStop() { return true }
            let now = Deadline.now
            if deadline.hasPassed { return false }
            expire(now: now)
            if let until = pausedUntil, now >= until { pausedUntil = nil }

            entries.removeAll(keepingCapacity: true)
            let listening = pausedUntil == nil
            if listening { entries.append(pollfd(fd: listener.descriptor, events: Int16(POLLIN), revents: 0)) }
            for entry in pending { entries.append(pollfd(fd: entry.socket.descriptor, events: Int16(POLLIN), revents: 0)) }
            var wake = deadline.earlier(.after(seconds: 1))
            if let until = pausedUntil { wake = wake.earlier(until) }
            if let first = pending.map(\.expiry).min() { wake = wake.earlier(first) }
            let rc = entries.withUnsafeMutableBufferPointer { poll($0.baseAddress, nfds_t($0.count), wake.pollTimeoutMilliseconds) }
            if rc < 0 {
                if errno == EINTR { continue }
                throw .system(SystemError(call: "poll", errno: errno))
            }
            if rc == 0 { continue }

            // Exchanges first (in order of arrival), then new connections.
            let offset = listening ? 1 : 0
            var ready = Set<UInt64>()
            for (index, entry) in pending.enumerated() where entries[offset + index].revents != 0 { ready.insert(entry.serial) }
            for serial in ready {
                guard let index = pending.firstIndex(where: { $0.serial == serial }) else { continue }
                if let (socket, outcome) = advance(at: index, open: open), accepted(socket, outcome) { return true }
            }
            if listening && entries[0].revents != 0 { try acceptWaiting() }
        }
    }

    /// Reads what connection `index` sent; returns it with its outcome once it is accepted.
    private func advance(at index: Int, open: ([UInt8]) -> HandshakeStep<Outcome>?) -> (Socket, Outcome)? {
        let socket = pending[index].socket
        while pending[index].filled < pending[index].buffer.count {
            let filled = pending[index].filled
            let want = pending[index].buffer.count - filled
            let result = pending[index].buffer.withUnsafeMutableBytes { raw in
                Result { () throws(SocketError) in try socket.tryReceive(raw.baseAddress! + filled, count: want) }
            }
            switch result {
            case .success(.wouldBlock): return nil
            case .success(.done(0)), .failure:
                drop(at: index, .closed, "after \(pending[index].filled) bytes")
                return nil
            case .success(.done(let n)): pending[index].filled += n
            }
        }
        let bytes = pending[index].buffer
        if let step = pending[index].step {
            let (reply, outcome) = step.conclude(bytes)
            let sent = sendNow(reply, on: socket)
            guard let outcome, sent else {
                drop(at: index, .refused, sent ? "" : "could not send the answer")
                return nil
            }
            pending.remove(at: index)
            return (socket, outcome)
        }
        guard let step = open(bytes) else {
            drop(at: index, .malformed, "unexpected opening bytes")
            return nil
        }
        guard sendNow(step.reply, on: socket) else {
            drop(at: index, .closed, "could not send the answer")
            return nil
        }
        pending[index].step = step
        pending[index].buffer = [UInt8](repeating: 0, count: step.expect)
        pending[index].filled = 0
        pending[index].expiry = .after(seconds: stepTimeoutSeconds)
        return nil
    }

    /// Sends a short reply without waiting: it fits in a fresh connection's send buffer, and a
    /// peer that does not read is not waited for.
    private func sendNow(_ bytes: [UInt8], on socket: Socket) -> Bool {
        guard !bytes.isEmpty else { return true }
        let result = bytes.withUnsafeBytes { raw in
            Result { () throws(SocketError) in try socket.trySend(raw.baseAddress!, count: raw.count) }
        }
        if case .success(.done(let n)) = result { return n == bytes.count }
        return false
    }

    private func acceptWaiting() throws(SocketError) {
        for _ in 0..<256 {
            let socket: Socket?
            do {
                socket = try listener.accept(deadline: .now)
            } catch {
                if case .system(let e) = error, [EMFILE, ENFILE, ENOBUFS, ENOMEM].contains(e.errno) {
                    onResourceShortage(e)
                    if !pending.isEmpty { drop(at: 0, .evicted, "to free a descriptor") }
                    pausedUntil = .after(seconds: pause)
                    pause = Swift.min(pause * 2, 1)
                    return
                }
                throw error
            }
            guard let socket else { return }
            pause = 0.01
            if pending.count >= maximumPending {
                // The oldest that has not even sent its opening (a real peer sends it at once,
                // then answers within a round trip), else the oldest.
                drop(at: pending.firstIndex { $0.step == nil } ?? 0, .evicted, "more than \(maximumPending) unfinished handshakes")
            }
            serial += 1
            pending.append(Pending(socket: socket, serial: serial, expiry: .after(seconds: stepTimeoutSeconds),
                                   buffer: [UInt8](repeating: 0, count: openingBytes)))
        }
    }

    private func expire(now: Deadline) {
        var index = 0
        while index < pending.count {
            if now >= pending[index].expiry {
                drop(at: index, .timedOut, "after \(pending[index].filled) of \(pending[index].buffer.count) bytes")
            } else {
                index += 1
            }
        }
    }

    private func drop(at index: Int, _ reason: HandshakeDrop, _ detail: String) {
        let entry = pending.remove(at: index)
        drops[reason, default: 0] += 1
        onDrop(reason, entry.socket.remoteDescription ?? "?", detail, drops[reason] == 1)
        entry.socket.close()
    }
}
