import CCollectivesAtomics
import CollectivesSystem
import Logging

/// The shared-memory transport, for ranks on one host: every rank owns a segment in `/dev/shm`
/// with one single-producer, single-consumer ring per sender, and maps everyone else's.
///
/// A send copies its frame (a ``FrameHeader``, then the payload) into the receiver's ring as
/// space allows; a receive copies it out as it arrives, checking the header against what was
/// posted before any payload byte reaches the caller's buffer. Large messages stream through the
/// rings, so sending, receiving and reducing overlap as they do over TCP, with no system call on
/// the data path.
///
/// A waiting thread moves every pending send and receive and waits as its ``WaitPolicy`` says:
/// it spins, yields its core when ranks outnumber cores, then sleeps on a futex in its own
/// segment (its *doorbell*), which a peer bumps and wakes only when the owner sleeps. Every
/// 100 ms it checks that the peers it waits for are still running and have not closed, so a
/// crashed peer is reported within that time.
package final class SharedMemoryTransport: TransportEngine, TransportMedium, @unchecked Sendable {
    package override var name: String { "shm" }

    /// Every member's segment, by rank; `segments[rank]` is this rank's.
    let segments: [SharedMemorySegment]
    /// The queues, behind a pointer: as a stored `var` of the class, every access on the hot
    /// path paid a dynamic exclusivity check (measured: about 10 % of an 8-byte all-reduce).
    /// The engine's lock is what makes access exclusive.
    private let framesStorage: UnsafeMutablePointer<PeerFrames>
    var frames: PeerFrames {
        unsafeAddress { UnsafePointer(framesStorage) }
        unsafeMutableAddress { framesStorage }
    }
    /// Producer and consumer positions, by peer (the shared copies are written, not read back).
    private let heads: UnsafeMutablePointer<UInt64>
    let tails: UnsafeMutablePointer<UInt64>
    let jobID: UInt64
    let ringCapacity: Int
    /// How far into its ring a sender may get before, finding the ring empty, it goes back to
    /// the start: 64 KiB (a quarter of smaller rings).
    private let rewindThreshold: UInt64
    /// Messages of at least this many bytes are read by the receiver straight from the sender's
    /// buffer (process_vm_readv) instead of passing through the ring: one copy instead of two.
    /// 0 when single copy is off or not permitted.
    let singleCopyBytes: Int
    /// Acknowledgements of single-copy sends seen, by peer.
    private let acknowledged: UnsafeMutablePointer<UInt64>
    /// The board's latest round (``MessageBoard``), behind a pointer for the same reason as
    /// ``frames``; touched only by the one thread that uses the transport.
    let boardRound: UnsafeMutablePointer<UInt64>
    /// How often a board wait checks its peer (liveness, messages of another call): 100 ms; the
    /// package's tests lengthen it to show that a sleeping reader is woken, not timed out.
    package var boardCheckInterval: UInt64 = 100_000_000
    /// Whether peers may sleep on a post of this rank's that they were not woken for yet.
    let wakePending: UnsafeMutablePointer<Bool>
    let logger: Logger

    init(rank: Int, segments: [SharedMemorySegment], jobID: UInt64, waitPolicy: WaitPolicy, singleCopyBytes: Int, logger: Logger) {
        self.singleCopyBytes = Swift.max(0, singleCopyBytes)
        self.segments = segments
        self.jobID = jobID
        self.logger = logger
        ringCapacity = segments[rank].capacity
        rewindThreshold = UInt64(Swift.min(64 << 10, segments[rank].capacity / 4))
        framesStorage = .allocate(capacity: 1)
        framesStorage.initialize(to: PeerFrames(rank: rank, worldSize: segments.count))
        heads = .allocate(capacity: segments.count)
        heads.initialize(repeating: 0, count: segments.count)
        tails = .allocate(capacity: segments.count)
        tails.initialize(repeating: 0, count: segments.count)
        acknowledged = .allocate(capacity: segments.count)
        acknowledged.initialize(repeating: 0, count: segments.count)
        boardRound = .allocate(capacity: 1)
        boardRound.initialize(to: 0)
        wakePending = .allocate(capacity: 1)
        wakePending.initialize(to: false)
        super.init(rank: rank, worldSize: segments.count, policy: waitPolicy)
        adopt(self, owned: false)
    }

    deinit {
        close()
        framesStorage.deinitialize(count: 1)
        framesStorage.deallocate()
        heads.deallocate()
        tails.deallocate()
        acknowledged.deallocate()
        boardRound.deallocate()
        wakePending.deallocate()
    }

    // MARK: Posting

    func enqueue(_ message: Message, peer: Int, isSend: Bool) throws(TransportError) {
        try frames.admit(message, peer: peer, isSend: isSend)
        // Small messages usually fit at once; what has already arrived is taken at once too.
        if isSend {
            if frames.sends[peer].count == 1 { _ = pushSends(to: peer) }
        } else if frames.receives[peer].count == 1 {
            _ = pullReceives(from: peer)
        }
    }

    // MARK: Moving bytes (with the lock held)

    /// Copies as much of the pending sends to `peer` as its ring has room for.
    private func pushSends(to peer: Int) -> Bool {
        let segment = segments[peer]
        let ring = segment.ring(from: rank)
        let data = ring + SharedMemorySegment.ringHeaderBytes
        let capacity = UInt64(segment.capacity)
        var head = heads[peer]
        let tail = collectives_load_acquire_u64(ring + 64)
        var moved = false
        while var frame = frames.sends[peer].first {
            if frame.done == 0, head == tail {
                // The ring is empty: past the first part of it, go back to its start (a padding
                // frame tells the reader to skip to there). Small messages then reuse a few hot
                // pages instead of walking the whole ring, faulting in and evicting as they go.
                // Only if the frame then fits before the old position, so it need not wait for
                // the reader to pass the padding.
                let offset = head % capacity, skip = capacity - offset
                if offset > rewindThreshold, offset >= UInt64(wireBytes(frame)), skip >= UInt64(Frame.headerBytes) {
                    let target = ring + SharedMemorySegment.ringHeaderBytes + Int(offset)
                    FrameHeader(tag: FrameHeader.padding, length: skip - UInt64(Frame.headerBytes)).store(to: target)
                    head += skip
                    moved = true
                }
            }
            let free = capacity - (head - tail)
            if free == 0 { break }
            let singleCopy = isSingleCopy(frame)
            let total = UInt64(wireBytes(frame))
            let n = Swift.min(free, total - UInt64(frame.done))
            if singleCopy {
                // The payload stays where it is: the ring carries where, and the receiver reads it.
                var descriptor = (UInt64(UInt(bitPattern: frame.base)).littleEndian, UInt64(frame.count).littleEndian)
                withUnsafeBytes(of: &descriptor) { RingStream.write(frame, payload: $0.baseAddress, bytes: Int(n), into: data, capacity: capacity, at: head) }
            } else {
                RingStream.write(frame, payload: frame.base, bytes: Int(n), into: data, capacity: capacity, at: head)
            }
            head += n
            frame.done += Int(n)
            moved = true
            if frame.done == Int(total) {
                if singleCopy {
                    // Done when the receiver says it has read the buffer.
                    frames.awaiting[peer].append(frame)
                } else {
                    requests.pointee.complete(frame.request)
                }
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

    /// Copies what has arrived from `peer` into the pending receives.
    private func pullReceives(from peer: Int) -> Bool {
        let own = segments[rank]
        let ring = own.ring(from: peer)
        let capacity = UInt64(own.capacity)
        var tail = tails[peer]
        let head = collectives_load_acquire_u64(ring)
        var moved = false
        while var frame = frames.receives[peer].first, head > tail {
            if frame.done == 0, head - tail >= UInt64(Frame.headerBytes), tail % capacity + 8 <= capacity {
                // A padding frame (written whole, never wrapped): skip to where it ends.
                let source = ring + SharedMemorySegment.ringHeaderBytes + Int(tail % capacity)
                if source.loadUnaligned(as: UInt64.self) == FrameHeader.padding.value.littleEndian {
                    tail += UInt64(Frame.headerBytes) + FrameHeader.load(from: source).length
                    moved = true
                    continue
                }
            }
            let singleCopy = isSingleCopy(frame)
            let total = wireBytes(frame)
            let n = RingStream.read(into: &frame, singleCopy: singleCopy, bytes: Swift.min(Int(head - tail), total - frame.done),
                                    from: ring + SharedMemorySegment.ringHeaderBytes, capacity: capacity, at: tail)
            tail += UInt64(n)
            moved = true
            if frame.done >= Frame.headerBytes, frame.done - n < Frame.headerBytes {
                // The header just became whole: check it against what was posted.
                if let error = frame.headerMismatch(from: peer, at: rank) {
                    frames.breakPeer(peer, error, in: requests)
                    break
                }
            }
            if frame.done == total {
                if singleCopy {
                    // The header was checked; now read the payload from the sender's buffer.
                    if let error = readPayload(of: frame, from: peer) {
                        frames.breakPeer(peer, error, in: requests)
                        break
                    }
                    let acknowledgements = ring + SharedMemorySegment.acknowledgementsOffset
                    collectives_store_release_u64(acknowledgements, collectives_load_acquire_u64(acknowledgements) &+ 1)
                }
                requests.pointee.complete(frame.request)
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

    /// The bytes of a single-copy frame's descriptor: the payload's address in the sender and its
    /// length.
    static let descriptorBytes = 16

    /// Whether a frame goes by single copy (its payload read from the sender's buffer).
    @inline(__always)
    private func isSingleCopy(_ frame: Frame) -> Bool { singleCopyBytes > 0 && frame.count >= singleCopyBytes }

    /// The bytes a frame takes in the ring: its header, then its payload or its descriptor.
    @inline(__always)
    private func wireBytes(_ frame: Frame) -> Int {
        Frame.headerBytes + (isSingleCopy(frame) ? Self.descriptorBytes : frame.count)
    }

    /// Reads a single-copy frame's payload from the sender's process into the receive's buffer.
    /// The sender's segment must still be open, and the sender alive by its pidfd, afterwards:
    /// a sender that failed may have freed the buffer, and one that died may have left its pid
    /// to another process, so what was read is then not trusted.
    private func readPayload(of frame: Frame, from peer: Int) -> TransportError? {
        let segment = segments[peer]
        let (address, length) = (UInt64(littleEndian: frame.descriptor.0), UInt64(littleEndian: frame.descriptor.1))
        guard length == UInt64(frame.count), let remote = UnsafeRawPointer(bitPattern: UInt(address)), let local = frame.base else {
            return TransportError(.protocolViolation("a single-copy descriptor that does not match its header"), rank: rank, peer: peer,
                                  operation: "receive", peerAddress: "pid \(segment.ownerPID)")
        }
        var done = 0
        while done < frame.count {
            let read: Int
            do {
                read = try Processes.readMemory(of: segment.ownerPID, at: remote + done, into: local + done, count: frame.count - done)
            } catch {
                return TransportError(segment.ownerIsAlive ? .system(error) : .peerGone,
                                      rank: rank, peer: peer, operation: "receive", peerAddress: "pid \(segment.ownerPID)")
            }
            if read == 0 {
                let nothing = SystemError(call: "process_vm_readv (no bytes at \(remote + done))", errno: 0)
                return TransportError(segment.ownerIsAlive ? .system(nothing) : .peerGone,
                                      rank: rank, peer: peer, operation: "receive", peerAddress: "pid \(segment.ownerPID)")
            }
            done += read
        }
        // The read went by pid: if the sender died meanwhile, its pid may already name another
        // process, whose memory was read. Its pidfd tells, whatever the pid names now.
        if segment.ownerHasLeft {
            return TransportError(.peerGone, rank: rank, peer: peer, operation: "receive", peerAddress: "pid \(segment.ownerPID)")
        }
        return nil
    }

    /// Completes the single-copy sends to `peer` that it has acknowledged.
    private func collectAcknowledgements(from peer: Int) -> Bool {
        let count = collectives_load_acquire_u64(segments[peer].ring(from: rank) + SharedMemorySegment.acknowledgementsOffset)
        var moved = false
        while acknowledged[peer] < count, let frame = frames.awaiting[peer].first {
            requests.pointee.complete(frame.request)
            frames.awaiting[peer].removeFirst()
            acknowledged[peer] += 1
            moved = true
        }
        return moved
    }

    /// Moves everything that can move; returns whether anything did.
    func progress() -> Bool {
        var moved = false
        for peer in 0..<worldSize where peer != rank {
            if !frames.sends[peer].isEmpty, pushSends(to: peer) { moved = true }
            if !frames.receives[peer].isEmpty, pullReceives(from: peer) { moved = true }
            if !frames.awaiting[peer].isEmpty, collectAcknowledgements(from: peer) { moved = true }
        }
        return moved
    }

    /// Fails the requests of peers that closed or died, or that posted on the board for a call
    /// this rank makes by messages.
    func checkPeers() {
        for peer in 0..<worldSize where peer != rank && frames.broken[peer] == nil && frames.hasWork(with: peer) {
            let segment = segments[peer]
            if segment.ownerHasLeft {
                let why = segment.isClosed ? "closed its transport" : "process \(segment.ownerPID) is gone"
                logger.debug("rank \(rank): shared memory: rank \(peer) \(why)")
                frames.breakPeer(peer, TransportError(.peerGone, rank: rank, peer: peer, operation: .wait,
                                                      peerAddress: "pid \(segment.ownerPID)"), in: requests)
            } else if let error = boardMismatch(with: peer) {
                frames.breakPeer(peer, error, in: requests)
            }
        }
    }

    /// A receive from `peer` that has seen nothing of its message while `peer` has posted on the
    /// board a round this rank has not reached: the two ranks made different calls.
    private func boardMismatch(with peer: Int) -> TransportError? {
        guard let receive = frames.receives[peer].first, receive.done == 0,
              collectives_load_acquire_u64(segments[rank].ring(from: peer)) == tails[peer],
              let post = boardPostAhead(of: peer) else { return nil }
        return post.mismatch(expected: receive.tag, expectedBytes: receive.count, sender: peer, receiver: rank,
                             peerAddress: "pid \(segments[peer].ownerPID)")
    }

}
