import CollectivesSystem

/// One completion from a queue pair's completion queue.
package struct VerbsCompletion: Sendable {
    package var workRequest: UInt64
    package var immediate: UInt32
    package var isReceive: Bool
    package var succeeded: Bool

    package init(workRequest: UInt64, immediate: UInt32, isReceive: Bool, succeeded: Bool) {
        self.workRequest = workRequest
        self.immediate = immediate
        self.isReceive = isReceive
        self.succeeded = succeeded
    }
}

/// What the RDMA transport needs of a connected queue pair to one peer: RDMA writes with an
/// immediate into the peer's ring, zero-length receives that take the peer's immediates, and
/// completion polling. The verbs shim provides it on hardware; the tests run the transport's
/// protocol over an in-memory fake of it.
package protocol VerbsChannel: AnyObject {
    /// Writes `length` bytes at `local` (in registered memory) to the peer's ring at `offset`,
    /// with `immediate`, signalled.
    func postWrite(_ workRequest: UInt64, local: UnsafeRawPointer, length: Int, remoteOffset: Int, immediate: UInt32) throws(VerbsFailure)
    /// Posts a receive for one incoming immediate.
    func postReceive(_ workRequest: UInt64) throws(VerbsFailure)
    /// Up to `max` completions.
    func poll(max: Int) -> [VerbsCompletion]
    /// Releases what the channel holds on the device (called once the transport has failed
    /// every request, with its lock held). Default: nothing.
    func close()
}

extension VerbsChannel {
    package func close() {}
}

/// The RDMA data path: per peer, a ring in this rank's registered memory that the peer writes
/// into with RDMA write-with-immediate, and a staging ring of the same size from which this rank
/// writes into the peer's.
///
/// A send copies its frame (``FrameHeader`` then payload) into the staging ring at the
/// position it will take in the peer's ring and writes it there; the immediate carries the byte
/// count. The receiver learns of bytes only from immediates, parses frames from its ring as on
/// shared memory, and returns space with a zero-length write whose immediate has the top bit set
/// and carries the bytes freed (credits). A sender never writes more than the credits allow.
/// Receives are kept posted (`depth` per peer) and reposted as they complete.
///
/// Waiting polls the completion queues, moves what can move, and waits as its ``WaitPolicy``
/// says: spins, yields, then sleeps in short naps (20 µs growing to 1 ms; there is no file
/// descriptor to sleep on without a completion channel).
package final class RDMATransport: TransportEngine, TransportMedium, @unchecked Sendable {
    package override var name: String { "verbs" }

    private let channels: [VerbsChannel?]
    private let inbound: [UnsafeMutableRawPointer?]
    private let staging: [UnsafeMutableRawPointer?]
    private let ringBytes: Int
    private let depth: Int
    /// Behind a pointer, so the hot path pays no dynamic exclusivity check; the engine's lock
    /// guards it.
    private let framesStorage: UnsafeMutablePointer<PeerFrames>
    private var frames: PeerFrames {
        unsafeAddress { UnsafePointer(framesStorage) }
        unsafeMutableAddress { framesStorage }
    }
    private var heads: [UInt64]        // bytes written into the peer's ring
    private var credits: [UInt64]      // bytes the peer has freed
    private var arrived: [UInt64]      // bytes the peer has written into ours
    private var tails: [UInt64]        // bytes consumed from ours
    private var returned: [UInt64]     // bytes of ours returned to the peer as credits
    private var outstanding: [Int]     // signalled sends not yet completed
    /// How long a wait naps next when nothing moves: 20 µs, doubling to 1 ms, back to 20 µs
    /// once something moves.
    private var nextNap = RDMATransport.shortestNap
    /// The first nap after something moved or was posted.
    private static let shortestNap: UInt64 = 20_000
    private static let creditFlag: UInt32 = 0x8000_0000

    /// Wraps connected channels (`channels[peer]`, `nil` for this rank) whose peers write into
    /// `inbound[peer]` and which write from `staging[peer]`, both `ringBytes` long and
    /// registered. Posts `depth` receives on each.
    package init(rank: Int, channels: [VerbsChannel?], inbound: [UnsafeMutableRawPointer?], staging: [UnsafeMutableRawPointer?],
                ringBytes: Int, depth: Int = 64, waitPolicy: WaitPolicy = .automatic(localRanks: 1)) throws(TransportError) {
        let n = channels.count
        self.channels = channels
        self.inbound = inbound
        self.staging = staging
        self.ringBytes = ringBytes
        self.depth = depth
        framesStorage = .allocate(capacity: 1)
        framesStorage.initialize(to: PeerFrames(rank: rank, worldSize: n))
        heads = Array(repeating: 0, count: n)
        credits = Array(repeating: 0, count: n)
        arrived = Array(repeating: 0, count: n)
        tails = Array(repeating: 0, count: n)
        returned = Array(repeating: 0, count: n)
        outstanding = Array(repeating: 0, count: n)
        super.init(rank: rank, worldSize: n, policy: waitPolicy)
        adopt(self, owned: false)
        for peer in 0..<n where peer != rank {
            for i in 0..<depth {
                do { try channels[peer]?.postReceive(UInt64(i)) } catch {
                    throw TransportError(.protocolViolation("posting receives: \(error)"), rank: rank, peer: peer, operation: "set-up")
                }
            }
        }
    }

    deinit {
        framesStorage.deinitialize(count: 1)
        framesStorage.deallocate()
    }

    /// Queues `message`; a send starts at once (small messages usually leave in this one call).
    func enqueue(_ message: Message, peer: Int, isSend: Bool) throws(TransportError) {
        try frames.admit(message, peer: peer, isSend: isSend)
        nextNap = Self.shortestNap
        if isSend, frames.sends[peer].count == 1 { _ = pushSends(peer) }
    }

    // MARK: Progress (lock held)

    private func pollCompletions(_ peer: Int) -> Bool {
        guard let channel = channels[peer] else { return false }
        var moved = false
        for completion in channel.poll(max: 16) {
            moved = true
            guard completion.succeeded else {
                frames.breakPeer(peer, TransportError(.peerGone, rank: rank, peer: peer, operation: "wait"), in: requests)
                continue
            }
            if !completion.isReceive {
                outstanding[peer] -= 1
                continue
            }
            if completion.immediate & Self.creditFlag != 0 {
                credits[peer] &+= UInt64(completion.immediate & ~Self.creditFlag)
            } else {
                arrived[peer] &+= UInt64(completion.immediate)
            }
            do { try channel.postReceive(completion.workRequest) } catch {
                frames.breakPeer(peer, TransportError(.protocolViolation("reposting a receive: \(error)"), rank: rank, peer: peer, operation: "wait"), in: requests)
            }
        }
        return moved
    }

    /// Copies pending sends into the staging ring and writes them to the peer, within credits.
    private func pushSends(_ peer: Int) -> Bool {
        guard let channel = channels[peer], let stage = staging[peer] else { return false }
        let capacity = UInt64(ringBytes)
        var moved = false
        while var frame = frames.sends[peer].first, outstanding[peer] < depth - 2 {
            let free = capacity - (heads[peer] - credits[peer])
            if free == 0 { break }
            let total = Frame.headerBytes + frame.count
            let offset = Int(heads[peer] % capacity)
            // One write never wraps: up to the end of the ring at most.
            let n = Int(Swift.min(free, UInt64(total - frame.done), capacity - UInt64(offset)))
            RingStream.write(frame, payload: frame.base, bytes: n, into: stage, capacity: capacity, at: heads[peer])
            do {
                try channel.postWrite(heads[peer], local: stage + offset, length: n, remoteOffset: offset, immediate: UInt32(n))
            } catch {
                frames.breakPeer(peer, TransportError(.protocolViolation("RDMA write: \(error)"), rank: rank, peer: peer, operation: "send"), in: requests)
                return true
            }
            outstanding[peer] += 1
            heads[peer] &+= UInt64(n)
            frame.done += n
            moved = true
            if frame.done == total {
                requests.pointee.complete(frame.request)
                frames.sends[peer].removeFirst()
            } else {
                frames.sends[peer].updateFirst(frame)
            }
        }
        return moved
    }

    /// Parses what has arrived in this rank's ring from `peer` into the pending receives, and
    /// returns the space as credits.
    private func pullReceives(_ peer: Int) -> Bool {
        guard let ring = inbound[peer] else { return false }
        let capacity = UInt64(ringBytes)
        var moved = false
        while var frame = frames.receives[peer].first, arrived[peer] > tails[peer] {
            let total = Frame.headerBytes + frame.count
            let n = RingStream.read(into: &frame, singleCopy: false, bytes: Swift.min(Int(arrived[peer] - tails[peer]), total - frame.done),
                                    from: ring, capacity: capacity, at: tails[peer])
            tails[peer] &+= UInt64(n)
            moved = true
            if frame.done == Frame.headerBytes, let error = frame.headerMismatch(from: peer, at: rank) {
                frames.breakPeer(peer, error, in: requests)
                return true
            }
            if frame.done == total {
                requests.pointee.complete(frame.request)
                frames.receives[peer].removeFirst()
            } else {
                frames.receives[peer].updateFirst(frame)
            }
        }
        let freed = tails[peer] - returned[peer]
        if freed > 0, outstanding[peer] < depth - 1, let channel = channels[peer] {
            let credit = UInt32(Swift.min(freed, UInt64(Self.creditFlag - 1)))
            do {
                try channel.postWrite(UInt64.max, local: ring, length: 0, remoteOffset: 0, immediate: Self.creditFlag | credit)
                outstanding[peer] += 1
                returned[peer] &+= UInt64(credit)
                moved = true
            } catch {
                frames.breakPeer(peer, TransportError(.protocolViolation("returning credits: \(error)"), rank: rank, peer: peer, operation: "receive"), in: requests)
            }
        }
        return moved
    }

    /// Moves what can move; something moving makes the next nap short again.
    func progress() -> Bool {
        var moved = false
        for peer in 0..<worldSize where peer != rank && frames.broken[peer] == nil {
            if pollCompletions(peer) { moved = true }
            if !frames.sends[peer].isEmpty, pushSends(peer) { moved = true }
            if pullReceives(peer) { moved = true }
        }
        if moved { nextNap = Self.shortestNap }
        return moved
    }

    var hasQueuedWork: Bool {
        (0..<worldSize).contains { $0 != rank && frames.broken[$0] == nil && frames.hasWork(with: $0) }
    }

    func peerAddress(_ peer: Int) -> String? { "queue pair to rank \(peer)" }

    /// Sleeps one nap, at most `nanoseconds`, without the lock: there is no descriptor to sleep
    /// on. Naps grow from 20 µs to 1 ms while nothing moves.
    func sleep(_ nanoseconds: UInt64, releasing lock: ConditionLock) {
        let pause = Swift.min(nextNap, nanoseconds)
        nextNap = Swift.min(1_000_000, nextNap * 2)
        lock.unlock()
        CollectivesSystem.nap(nanoseconds: pause)
        lock.lock()
    }

    /// Naps are short and taken without the lock: nothing to wake.
    func interrupt() {}

    func dropAll() { frames.dropAll() }

    /// Tears down the device resources in order (queue pairs, registrations, endpoints, rings).
    func release() {
        for channel in channels { channel?.close() }
    }
}
