import CCollectivesAtomics
import CollectivesSystem

/// The board on shared memory: each rank's segment holds two slots (rounds alternate between
/// them), which only the owner writes and every peer reads in place.
///
/// A post is its bytes, then its tag and length, then the round number stored with release
/// semantics; a reader that loads the round with acquire semantics sees the whole post. Waiting
/// follows the transport's ``WaitPolicy`` (spin, yield, then sleep on this rank's doorbell,
/// which a publisher rings when the reader sleeps), checking every 100 ms that the peer still
/// runs and has not sent this rank a message of another call instead.
extension SharedMemoryTransport: MessageBoard {
    package var boardCapacity: Int { segments[rank].boardCapacity }

    package func publish(_ bytes: UnsafeRawBufferPointer, tag: MessageTag, deadline: Deadline) throws(TransportError) {
        try throwIfFailed()
        guard bytes.count <= boardCapacity else {
            throw TransportError(.invalidArgument("\(bytes.count) bytes do not fit a board post of \(boardCapacity)"),
                                 rank: rank, peer: nil, operation: "send")
        }
        let round = boardRound.pointee &+ 1
        // This slot holds round − 2, which a peer has read once it has posted round − 1.
        if round > 2 {
            for peer in 0..<worldSize where peer != rank {
                try awaitRound(round - 1, of: peer, tag: tag, bytes: bytes.count, deadline: deadline)
            }
        }
        let slot = segments[rank].boardSlot(Int(round & 1))
        if let source = bytes.baseAddress, bytes.count > 0 {
            (slot + SharedMemorySegment.boardDataOffset).copyMemory(from: source, byteCount: bytes.count)
        }
        FrameHeader(tag: tag, length: UInt64(bytes.count)).store(to: slot + 8)
        collectives_store_release_u64(slot, round)
        boardRound.pointee = round
        // Peers asleep on this post are woken after this rank's reads (finishRound) or before
        // it waits: the fence that waking needs then finds the store long done, where right
        // here it would wait for it (the slot's cache line is still in the readers' caches).
        wakePending.pointee = true
    }

    package func finishRound() {
        if wakePending.pointee { wakeSleepingPeers() }
    }

    package func read(from peer: Int, tag: MessageTag, bytes: Int, deadline: Deadline) throws(TransportError) -> UnsafeRawPointer {
        let round = boardRound.pointee
        let slot = segments[peer].boardSlot(Int(round & 1))
        if peer != rank, collectives_load_acquire_u64(slot) != round {
            try awaitRound(round, of: peer, tag: tag, bytes: bytes, deadline: deadline)
        }
        let header = FrameHeader.load(from: slot + 8)
        if header.tag != tag || header.length != UInt64(bytes),
           let error = header.mismatch(expected: tag, expectedBytes: bytes, sender: peer, receiver: rank, peerAddress: "pid \(segments[peer].ownerPID)") {
            throw error
        }
        return UnsafeRawPointer(slot + SharedMemorySegment.boardDataOffset)
    }

    /// Pauses between clock reads while a board wait spins (about a microsecond of pauses).
    static let boardSpinsPerClockRead = 32

    /// Waits until `peer` has posted `round` (or a later one).
    private func awaitRound(_ round: UInt64, of peer: Int, tag: MessageTag, bytes: Int, deadline: Deadline) throws(TransportError) {
        let slot = segments[peer].boardSlot(Int(round & 1))
        if wakePending.pointee { wakeSleepingPeers() }
        for _ in 0..<64 {
            if collectives_load_acquire_u64(slot) >= round { return }
            collectives_pause()
        }
        gauge.enter()
        defer { gauge.leave() }
        var idle = IdleTimer(waitPolicy)
        let interval = boardCheckInterval
        var nextCheck = MonotonicClock.nanoseconds &+ interval
        while collectives_load_acquire_u64(slot) < round {
            try throwIfFailed()
            let now = MonotonicClock.nanoseconds
            if now >= deadline.uptimeNanoseconds {
                throw expireBoardWait(for: peer)
            }
            if now >= nextCheck {
                try checkBoardPeer(peer, expecting: tag, bytes: bytes)
                nextCheck = now &+ interval
                continue
            }
            switch idle.next(now: now) {
            case .spin:
                // Look again at every pause, and at the clock only every so many: a post is seen
                // a pause after it lands, not a clock read after.
                var spins = 0
                while spins < Self.boardSpinsPerClockRead && collectives_load_acquire_u64(slot) < round {
                    collectives_pause()
                    spins += 1
                }
            case .yield: Scheduler.yield()
            case .sleep: napOnBoard(slot: slot, round: round, nanoseconds: Swift.min(deadline.uptimeNanoseconds, nextCheck) &- now)
            }
        }
    }

    /// Sleeps on this rank's doorbell until rung, unless `slot` already shows `round`.
    private func napOnBoard(slot: UnsafeMutableRawPointer, round: UInt64, nanoseconds: UInt64) {
        let own = segments[rank]
        _ = collectives_fetch_add_u32(own.sleepers, 1)
        // Orders the count before the load of the round, against the poster's fence between its
        // round and its load of the count (sequentially consistent on every architecture).
        collectives_fence()
        let bell = collectives_load_u32(own.doorbell)
        if collectives_load_acquire_u64(slot) < round && !own.isClosed {
            // Bounded by the caller: the deadline or the next check, whichever is first.
            Futex.wait(on: own.doorbell, whileItHolds: bell, timeoutNanoseconds: Int64(clamping: nanoseconds))
        }
        _ = collectives_fetch_add_u32(own.sleepers, UInt32.max)
    }

    /// Rings the doorbell of every peer that sleeps (one fence, then a load per peer).
    private func wakeSleepingPeers() {
        wakePending.pointee = false
        collectives_fence()
        for peer in 0..<worldSize where peer != rank { segments[peer].wakeIfSleeping() }
    }

    /// Throws the transport's failure once it has failed or closed (its segment says so).
    private func throwIfFailed() throws(TransportError) {
        guard segments[rank].isClosed else { return }
        throw lock.withLock { failure } ?? TransportError(.closed, rank: rank, peer: nil, operation: .wait)
    }

    /// Fails the transport with the timeout of a board wait on `peer` and returns that error.
    private func expireBoardWait(for peer: Int) -> TransportError {
        let error = TransportError(.timedOut, rank: rank, peer: peer, operation: "receive", peerAddress: "pid \(segments[peer].ownerPID)")
        lock.withLock { failLocked(error) }
        return error
    }

    /// Throws if `peer` is gone, or has sent this rank a message of another call where this rank
    /// waits for its post (two ranks that made different calls, one by board, one by messages).
    private func checkBoardPeer(_ peer: Int, expecting tag: MessageTag, bytes: Int) throws(TransportError) {
        let segment = segments[peer]
        let address = "pid \(segment.ownerPID)"
        if segment.ownerHasLeft {
            throw TransportError(.peerGone, rank: rank, peer: peer, operation: "receive", peerAddress: address)
        }
        if let header = lock.withLock({ unclaimedFrameHeader(from: peer) }),
           let error = header.mismatch(expected: tag, expectedBytes: bytes, sender: peer, receiver: rank, peerAddress: address) {
            throw error
        }
    }

    /// The header of a frame `peer` has put in this rank's ring that no posted receive waits
    /// for, if there is one (past any padding frames). With the lock held.
    func unclaimedFrameHeader(from peer: Int) -> FrameHeader? {
        guard frames.receives[peer].isEmpty else { return nil }
        let own = segments[rank]
        let ring = own.ring(from: peer)
        let head = collectives_load_acquire_u64(ring)
        var position = tails[peer]
        while head >= position &+ UInt64(FrameHeader.size) {
            let header = ringHeader(in: ring, capacity: own.capacity, at: position)
            guard header.tag == FrameHeader.padding else { return header }
            // A padding frame is written whole and never wraps: skip to where it ends.
            guard header.length < UInt64(own.capacity) else { return nil }
            position &+= UInt64(FrameHeader.size) &+ header.length
        }
        return nil
    }

    /// The frame header at stream position `position` of `ring`, which may wrap.
    private func ringHeader(in ring: UnsafeMutableRawPointer, capacity: Int, at position: UInt64) -> FrameHeader {
        var words: (UInt64, UInt64, UInt64, UInt64) = (0, 0, 0, 0)
        withUnsafeMutableBytes(of: &words) { header in
            for index in 0..<FrameHeader.size {
                let offset = Int((position &+ UInt64(index)) % UInt64(capacity))
                header[index] = (ring + SharedMemorySegment.ringHeaderBytes + offset).load(as: UInt8.self)
            }
        }
        return FrameHeader(words: words)
    }

    /// `peer`'s latest board post (its round and header), for a receive from `peer` that finds
    /// nothing in its ring: a peer that posted a round this rank has not reached waits on the
    /// board for a call this rank makes by messages.
    func boardPostAhead(of peer: Int) -> FrameHeader? {
        let mine = boardRound.pointee
        for parity in 0..<2 {
            let slot = segments[peer].boardSlot(parity)
            if collectives_load_acquire_u64(slot) > mine { return FrameHeader.load(from: slot + 8) }
        }
        return nil
    }
}
