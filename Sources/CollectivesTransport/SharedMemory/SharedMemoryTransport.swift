#if canImport(Glibc)
import Glibc
#endif
import CCollectivesShim
import CollectivesSystem
import Logging

/// The shared-memory transport, for ranks on one host: every rank owns a segment in `/dev/shm`
/// with one single-producer, single-consumer ring per sender, and maps everyone else's.
///
/// A send copies its frame (the header of the TCP transport, then the payload) into the
/// receiver's ring as space allows; a receive copies it out as it arrives, checking the tag and
/// length against what was posted. Large messages stream through the rings, so sending,
/// receiving and reducing overlap as they do over TCP, with no system call on the data path.
///
/// A waiting thread moves every pending send and receive, spins briefly
/// (``TCPOptions/spinMicroseconds``, shared with TCP), then sleeps on a futex in its own segment
/// (its *doorbell*), which a peer bumps whenever it writes into or frees space in one of the
/// rings this rank waits on. While asleep it wakes every 100 ms to check that the peers it waits
/// for are still running and have not closed, so a crashed peer is reported within that time.
public final class SharedMemoryTransport: Transport, @unchecked Sendable {
    public let rank: Int
    public let worldSize: Int
    public var name: String { "shm" }

    private let lock = ConditionLock()
    /// Every member's segment, by rank; `segments[rank]` is this rank's.
    private let segments: [SharedMemorySegment]
    private var frames: PeerFrames
    /// Producer and consumer positions, by peer (the shared copies are written, not read back).
    private var heads: [UInt64]
    private var tails: [UInt64]
    let spinNanoseconds: UInt64
    let jobID: UInt64
    let ringCapacity: Int
    let logger: Logger

    init(rank: Int, segments: [SharedMemorySegment], jobID: UInt64, spinMicroseconds: Int, logger: Logger) {
        self.rank = rank
        self.worldSize = segments.count
        self.segments = segments
        self.jobID = jobID
        self.logger = logger
        ringCapacity = segments[rank].capacity
        spinNanoseconds = UInt64(Swift.max(0, spinMicroseconds)) * 1000
        frames = PeerFrames(rank: rank, worldSize: segments.count)
        heads = Array(repeating: 0, count: segments.count)
        tails = Array(repeating: 0, count: segments.count)
    }

    deinit { close() }

    // MARK: Posting

    public func postSend(_ buffer: UnsafeRawBufferPointer, to peer: Int, tag: MessageTag) throws(TransportError) -> TransportRequest {
        try post(Frame(base: UnsafeMutableRawPointer(mutating: buffer.baseAddress), count: buffer.count, tag: tag), peer: peer, isSend: true)
    }

    public func postReceive(into buffer: UnsafeMutableRawBufferPointer, from peer: Int, tag: MessageTag) throws(TransportError) -> TransportRequest {
        try post(Frame(base: buffer.baseAddress, count: buffer.count, tag: tag), peer: peer, isSend: false)
    }

    private func post(_ frame: Frame, peer: Int, isSend: Bool) throws(TransportError) -> TransportRequest {
        lock.lock()
        defer { lock.unlock() }
        let request = try frames.admit(frame, peer: peer, isSend: isSend)
        // Small messages usually fit at once.
        if isSend, frames.sends[peer].count == 1 { _ = pushSends(to: peer) }
        return request
    }

    // MARK: Moving bytes (with the lock held)

    /// Copies as much of the pending sends to `peer` as its ring has room for.
    private func pushSends(to peer: Int) -> Bool {
        let segment = segments[peer]
        let ring = segment.ring(from: rank)
        let capacity = UInt64(segment.capacity)
        var head = heads[peer]
        let tail = collectives_load_acquire_u64(ring + 64)
        var moved = false
        while var frame = frames.sends[peer].first {
            let free = capacity - (head - tail)
            if free == 0 { break }
            let total = UInt64(Frame.headerBytes + frame.count)
            let n = Swift.min(free, total - UInt64(frame.done))
            copyIn(ring: ring, capacity: capacity, at: head, frame: frame, bytes: Int(n))
            head += n
            frame.done += Int(n)
            moved = true
            if frame.done == Int(total) {
                frames.table.complete(frame.slot)
                frames.sends[peer].removeFirst()
            } else {
                frames.sends[peer].updateFirst(frame)
                break
            }
        }
        if moved {
            heads[peer] = head
            collectives_store_release_u64(ring, head)
            segment.ring()
        }
        return moved
    }

    /// Writes `bytes` of the frame's stream (header, then payload) from its current position.
    private func copyIn(ring: UnsafeMutableRawPointer, capacity: UInt64, at head: UInt64, frame: Frame, bytes: Int) {
        var position = head, done = frame.done, left = bytes
        var header = frame.outgoingHeader
        while left > 0 {
            let offset = Int(position % capacity)
            let room = Swift.min(left, Int(capacity) - offset)
            let target = ring + SharedMemorySegment.ringHeaderBytes + offset
            let n: Int
            if done < Frame.headerBytes {
                n = Swift.min(room, Frame.headerBytes - done)
                withUnsafeBytes(of: &header) { target.copyMemory(from: $0.baseAddress! + done, byteCount: n) }
            } else {
                n = room
                target.copyMemory(from: frame.base! + (done - Frame.headerBytes), byteCount: n)
            }
            position += UInt64(n)
            done += n
            left -= n
        }
    }

    /// Copies what has arrived from `peer` into the pending receives.
    private func pullReceives(from peer: Int) -> Bool {
        let own = segments[rank]
        let ring = own.ring(from: peer)
        let capacity = UInt64(own.capacity)
        var tail = tails[peer]
        let head = collectives_load_acquire_u64(ring)
        var moved = false
        while var frame = frames.receives[peer].first, head > tail {
            let total = Frame.headerBytes + frame.count
            let n = copyOut(ring: ring, capacity: capacity, at: tail, frame: &frame,
                            bytes: Swift.min(Int(head - tail), total - frame.done))
            tail += UInt64(n)
            moved = true
            if frame.done >= Frame.headerBytes, frame.done - n < Frame.headerBytes {
                // The header just became whole: check it against what was posted.
                if let error = frame.headerMismatch(from: peer, at: rank) {
                    frames.breakPeer(peer, error)
                    break
                }
            }
            if frame.done == total {
                frames.table.complete(frame.slot)
                frames.receives[peer].removeFirst()
            } else {
                frames.receives[peer].updateFirst(frame)
            }
        }
        if moved {
            tails[peer] = tail
            collectives_store_release_u64(ring + 64, tail)
            segments[peer].ring()
        }
        return moved
    }

    /// Reads up to `bytes` of the frame's stream; stops where the header ends, so that it is
    /// checked before any payload lands. Returns the bytes read.
    private func copyOut(ring: UnsafeMutableRawPointer, capacity: UInt64, at tail: UInt64, frame: inout Frame, bytes: Int) -> Int {
        var position = tail, left = bytes
        while left > 0 {
            let offset = Int(position % capacity)
            let room = Swift.min(left, Int(capacity) - offset)
            let source = ring + SharedMemorySegment.ringHeaderBytes + offset
            let n: Int
            if frame.done < Frame.headerBytes {
                n = Swift.min(room, Frame.headerBytes - frame.done)
                let done = frame.done
                withUnsafeMutableBytes(of: &frame.header) { $0.baseAddress!.advanced(by: done).copyMemory(from: source, byteCount: n) }
            } else {
                n = room
                // A header not checked yet never lets payload through (see pullReceives).
                frame.base!.advanced(by: frame.done - Frame.headerBytes).copyMemory(from: source, byteCount: n)
            }
            position += UInt64(n)
            frame.done += n
            left -= n
            if frame.done == Frame.headerBytes { break }
        }
        return bytes - left
    }

    /// Moves everything that can move; returns whether anything did.
    private func progressAll() -> Bool {
        var moved = false
        for peer in 0..<worldSize where peer != rank {
            if !frames.sends[peer].isEmpty, pushSends(to: peer) { moved = true }
            if !frames.receives[peer].isEmpty, pullReceives(from: peer) { moved = true }
        }
        return moved
    }

    /// Fails the requests of peers that closed or died.
    private func checkPeers() {
        for peer in 0..<worldSize where peer != rank && frames.broken[peer] == nil && (!frames.sends[peer].isEmpty || !frames.receives[peer].isEmpty) {
            let segment = segments[peer]
            if segment.isClosed || !segment.ownerIsAlive {
                let why = segment.isClosed ? "closed its transport" : "process \(segment.ownerPID) is gone"
                logger.debug("rank \(rank): shared memory: rank \(peer) \(why)")
                frames.breakPeer(peer, TransportError(.peerGone, rank: rank, peer: peer, operation: "wait"))
            }
        }
    }

    // MARK: Waiting

    public func wait(_ request: TransportRequest, deadline: Deadline) throws(TransportError) {
        lock.lock()
        defer { lock.unlock() }
        guard let slot = frames.table.slot(of: request) else {
            throw TransportError(.invalidArgument("unknown or spent request"), rank: rank, peer: nil, operation: "wait")
        }
        let own = segments[rank]
        var nextPeerCheck = Deadline.now.uptimeNanoseconds &+ 100_000_000
        while true {
            if try frames.settle(slot) { return }
            if progressAll() { continue }
            let now = Deadline.now.uptimeNanoseconds
            if deadline.hasPassed {
                frames.table.release(slot)
                throw TransportError(.timedOut, rank: rank, peer: pendingPeer(), operation: "wait")
            }
            if now >= nextPeerCheck {
                checkPeers()
                nextPeerCheck = now &+ 100_000_000
                continue
            }
            // Spin a little: a peer is often about to write.
            if spinNanoseconds > 0 {
                let until = now &+ spinNanoseconds
                var moved = false
                while Deadline.now.uptimeNanoseconds < until {
                    collectives_pause()
                    if progressAll() { moved = true; break }
                }
                if moved { continue }
            }
            // Sleep on the doorbell; anything a peer does to our rings bumps it.
            _ = collectives_fetch_add_u32(own.sleepers, 1)
            let bell = collectives_load_u32(own.doorbell)
            if progressAll() {
                _ = collectives_fetch_add_u32(own.sleepers, UInt32.max)
                continue
            }
            let sleep = Swift.min(Int64(nextPeerCheck &- now), Int64(deadline.remainingSeconds * 1e9) + 1_000)
            lock.unlock()
            _ = collectives_futex_wait(own.doorbell, bell, Swift.max(sleep, 1_000))
            lock.lock()
            _ = collectives_fetch_add_u32(own.sleepers, UInt32.max)
        }
    }

    /// A peer this rank still waits on, for timeout messages.
    private func pendingPeer() -> Int? {
        (0..<worldSize).first { !frames.receives[$0].isEmpty } ?? (0..<worldSize).first { !frames.sends[$0].isEmpty }
    }

    public func close() {
        lock.withLock {
            guard frames.close() else { return }
            collectives_store_u32(segments[rank].closedFlag, 1)
            segments[rank].unlink()
            for (peer, segment) in segments.enumerated() where peer != rank { segment.ring() }
            segments[rank].ring()
        }
    }
}
