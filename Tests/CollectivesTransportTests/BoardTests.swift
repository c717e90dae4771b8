import CollectivesSystem
import CollectivesTestSupport
import CollectivesTransport
import Synchronization
import Testing

/// The shared-memory board (``MessageBoard``): posts read in place round after round, their
/// tags checked, and every way a read can fail: a silent peer (timeout), a peer that closed, a
/// peer that made another call (on the board, or by messages), a transport failed from
/// another thread while a reader sleeps.
@Suite struct BoardTests {
    /// The byte `index` of `rank`'s post in `round`: what every reader expects, computed here.
    static func expectedByte(rank: Int, round: Int, index: Int) -> UInt8 {
        UInt8(truncatingIfNeeded: rank &* 131 &+ round &* 17 &+ index &* 7)
    }

    static func sleepingGroup(_ n: Int) throws -> [SharedMemoryTransport] {
        let group = try TestGroups.sharedMemory(worldSize: n)
        for transport in group { transport.waitPolicy = .sleep }
        return group
    }

    /// Every rank posts a seeded size (0 to the whole capacity) each round and reads every
    /// peer's post of that round, byte for byte; the sizes come from one seed, so every rank
    /// knows every other's.
    ///
    /// Sleeping: every wait sleeps at once and the periodic check is 30 s away, so a rank that
    /// went to sleep without waking the peers asleep on it would stall the run past its bound.
    @Test(arguments: [(2, false), (3, false), (5, false), (2, true), (3, true)])
    func postsAreReadWholeRoundAfterRound(worldSize n: Int, sleeping: Bool) throws {
        let seed = TestSeed.make(for: "board, \(n) ranks\(sleeping ? ", sleeping" : "")")
        let group = try sleeping ? Self.sleepingGroup(n) : TestGroups.sharedMemory(worldSize: n)
        defer { group.forEach { $0.close() } }
        if sleeping { for transport in group { transport.boardCheckInterval = 30_000_000_000 } }
        let start = Deadline.now
        let capacity = group[0].boardCapacity
        var random = SeededRandom(seed: seed)
        let sizes = (0..<300).map { round in round % 50 == 0 ? capacity : (round % 7 == 0 ? 0 : Int.random(in: 1...capacity, using: &random)) }
        let problems = Locked<[String]>([])
        let threads = (0..<n).map { rank in
            SystemThread(name: "rank \(rank)") {
                let board = group[rank]
                var post = [UInt8](repeating: 0, count: capacity)
                do {
                    for (round, size) in sizes.enumerated() {
                        for index in 0..<size { post[index] = Self.expectedByte(rank: rank, round: round, index: index) }
                        let tag = MessageTag(UInt64(round + 1), call: 5, count: UInt64(size))
                        try post.withUnsafeBytes { try board.publish(UnsafeRawBufferPointer(rebasing: $0[..<size]), tag: tag, deadline: .after(seconds: 30)) }
                        for peer in 0..<n {
                            let bytes = try board.read(from: peer, tag: tag, bytes: size, deadline: .after(seconds: 30))
                            for index in 0..<size where bytes.load(fromByteOffset: index, as: UInt8.self) != Self.expectedByte(rank: peer, round: round, index: index) {
                                problems.withLock { $0.append("rank \(rank), round \(round): byte \(index) of rank \(peer)'s post is wrong") }
                                break
                            }
                        }
                        board.finishRound()
                    }
                } catch {
                    problems.withLock { $0.append("rank \(rank): \(error)") }
                }
            }
        }
        threads.forEach { $0.join() }
        #expect(problems.withLock { $0 }.isEmpty, "seed \(seed): \(problems.withLock { $0.prefix(5) })")
        #expect(Deadline.now.uptimeNanoseconds - start.uptimeNanoseconds < 25_000_000_000, "a rank slept through a post")
    }

    @Test func aPostWithAnotherTagIsAMismatchCarryingBoth() throws {
        let group = try TestGroups.sharedMemory(worldSize: 2)
        defer { group.forEach { $0.close() } }
        var value: UInt64 = 7
        try withUnsafeBytes(of: &value) { try group[1].publish($0, tag: MessageTag(1, call: 9, count: 1), deadline: .after(seconds: 10)) }
        try withUnsafeBytes(of: &value) { try group[0].publish($0, tag: MessageTag(1, call: 8, count: 1), deadline: .after(seconds: 10)) }
        let error = #expect(throws: TransportError.self) {
            _ = try group[0].read(from: 1, tag: MessageTag(1, call: 8, count: 1), bytes: 8, deadline: .after(seconds: 10))
        }
        #expect(error?.peer == 1)
        #expect(error?.mismatch?.sent == MessageTag(1, call: 9, count: 1), "\(String(describing: error))")
        #expect(error?.mismatch?.expected == MessageTag(1, call: 8, count: 1))
    }

    /// A post overwrites the one of two rounds before: it waits until every peer has posted the
    /// round before it (and so has read that older post). Rank 1 stays at round 1 here.
    @Test func aPostWaitsForEveryPeerToReachTheRoundBefore() throws {
        let group = try TestGroups.sharedMemory(worldSize: 2)
        defer { group.forEach { $0.close() } }
        var value: UInt64 = 1
        try withUnsafeBytes(of: &value) { try group[1].publish($0, tag: 1, deadline: .after(seconds: 10)) }
        for round in 1...2 {
            try withUnsafeBytes(of: &value) { try group[0].publish($0, tag: MessageTag(UInt64(round)), deadline: .after(seconds: 10)) }
        }
        let error = #expect(throws: TransportError.self) {
            try withUnsafeBytes(of: &value) { try group[0].publish($0, tag: 3, deadline: .after(seconds: 0.3)) }
        }
        #expect(error?.kind == .timedOut && error?.peer == 1, "\(String(describing: error))")
        // Rank 1's round 1 was not overwritten.
        let first = try group[1].read(from: 0, tag: 1, bytes: 8, deadline: .after(seconds: 1))
        #expect(first.loadUnaligned(as: UInt64.self) == 1)
    }

    @Test func aReadFromASilentPeerTimesOutNamingItAndFailsTheTransport() throws {
        let group = try TestGroups.sharedMemory(worldSize: 3)
        defer { group.forEach { $0.close() } }
        var value: UInt64 = 1
        try withUnsafeBytes(of: &value) { try group[0].publish($0, tag: 1, deadline: .after(seconds: 10)) }
        let start = Deadline.now
        let error = #expect(throws: TransportError.self) {
            _ = try group[0].read(from: 2, tag: 1, bytes: 8, deadline: .after(seconds: 0.3))
        }
        let seconds = Double(Deadline.now.uptimeNanoseconds - start.uptimeNanoseconds) / 1e9
        #expect(error?.kind == .timedOut && error?.peer == 2, "\(String(describing: error))")
        #expect(seconds >= 0.29 && seconds < 5, "\(seconds) s")
        // The transport has failed: the next post throws the timeout.
        let later = #expect(throws: TransportError.self) {
            try withUnsafeBytes(of: &value) { try group[0].publish($0, tag: 2, deadline: .after(seconds: 10)) }
        }
        #expect(later?.kind == .timedOut, "\(String(describing: later))")
    }

    /// Rank 0 posts round 1 and waits, on a thread of its own, for rank 1's post, until it is
    /// parked (asleep); `outcome` gets the error its read ends with.
    static func parkedReader(_ group: [SharedMemoryTransport], outcome: Locked<TransportError?>) throws -> SystemThread {
        var value: UInt64 = 1
        try withUnsafeBytes(of: &value) { try group[0].publish($0, tag: 1, deadline: .after(seconds: 10)) }
        let reader = group[0]
        let thread = SystemThread(name: "reader") {
            do throws(TransportError) { _ = try reader.read(from: 1, tag: 1, bytes: 8, deadline: .after(seconds: 60)) } catch { outcome.withLock { $0 = error } }
        }
        #expect(awaitParked { reader.parkedWaiters })
        return thread
    }

    @Test func aPeerThatClosesIsReportedGone() throws {
        let group = try Self.sleepingGroup(2)
        defer { group.forEach { $0.close() } }
        let outcome = Locked<TransportError?>(nil)
        let thread = try Self.parkedReader(group, outcome: outcome)
        let start = Deadline.now
        group[1].close()
        thread.join()
        let seconds = Double(Deadline.now.uptimeNanoseconds - start.uptimeNanoseconds) / 1e9
        #expect(outcome.withLock { $0 }?.kind == .peerGone && outcome.withLock { $0 }?.peer == 1, "\(String(describing: outcome.withLock { $0 }))")
        #expect(seconds < 5, "\(seconds) s")
    }

    /// A reader asleep on its doorbell is woken when the poster finishes its round (not by its
    /// periodic check, set to 30 s here, nor by its deadline).
    @Test func aSleepingReaderWakesWhenThePosterFinishesItsRound() throws {
        let group = try Self.sleepingGroup(2)
        defer { group.forEach { $0.close() } }
        group[0].boardCheckInterval = 30_000_000_000
        var value: UInt64 = 11
        try withUnsafeBytes(of: &value) { try group[0].publish($0, tag: 1, deadline: .after(seconds: 10)) }
        let reader = group[0]
        let read = Locked<UInt64?>(nil)
        let thread = SystemThread(name: "reader") {
            if let bytes = try? reader.read(from: 1, tag: 1, bytes: 8, deadline: .after(seconds: 60)) {
                read.withLock { $0 = bytes.loadUnaligned(as: UInt64.self) }
            }
        }
        #expect(awaitParked { reader.parkedWaiters })
        let start = Deadline.now
        var other: UInt64 = 22
        try withUnsafeBytes(of: &other) { try group[1].publish($0, tag: 1, deadline: .after(seconds: 10)) }
        group[1].finishRound()
        thread.join()
        #expect(read.withLock { $0 } == 22)
        #expect(Deadline.now.uptimeNanoseconds - start.uptimeNanoseconds < 10_000_000_000)
    }

    @Test func failWakesASleepingReaderWithTheErrorGiven() throws {
        let group = try Self.sleepingGroup(2)
        defer { group.forEach { $0.close() } }
        let outcome = Locked<TransportError?>(nil)
        let thread = try Self.parkedReader(group, outcome: outcome)
        group[0].fail(TransportError(.invalidArgument("stopped by the test"), rank: 0, peer: nil, operation: "abort"))
        thread.join()
        #expect(outcome.withLock { $0 }?.operation == "abort", "\(String(describing: outcome.withLock { $0 }))")
    }

    /// Rank 0 posts, then waits for rank 1's post while rank 1 sends it a message instead: rank 0
    /// fails with a mismatch carrying the message's tag and length, within its liveness check,
    /// not at its deadline.
    static func expectMismatchFromAMessageWhileAPostIsAwaited(_ group: [SharedMemoryTransport]) throws {
        var value: UInt64 = 1
        try withUnsafeBytes(of: &value) { try group[0].publish($0, tag: MessageTag(4, call: 1, count: 2), deadline: .after(seconds: 10)) }
        var payload = [Float](repeating: 1, count: 100)
        let send = try payload.withUnsafeMutableBytes { try group[1].postSend(UnsafeRawBufferPointer($0), to: 0, tag: MessageTag(4, call: 3, count: 100)) }
        let start = Deadline.now
        let error = #expect(throws: TransportError.self) {
            _ = try group[0].read(from: 1, tag: MessageTag(4, call: 1, count: 2), bytes: 8, deadline: .after(seconds: 30))
        }
        #expect(error?.mismatch?.sent == MessageTag(4, call: 3, count: 100), "\(String(describing: error))")
        #expect(error?.mismatch?.sentBytes == 400)
        #expect(Deadline.now.uptimeNanoseconds - start.uptimeNanoseconds < 5_000_000_000)
        group[1].fail(TransportError(.closed, rank: 1, peer: nil, operation: "test"))
        _ = try? group[1].wait(send, deadline: .after(seconds: 1))
    }

    @Test func aMessageWhereAPostIsAwaitedIsAMismatch() throws {
        let group = try Self.sleepingGroup(2)
        defer { group.forEach { $0.close() } }
        try Self.expectMismatchFromAMessageWhileAPostIsAwaited(group)
    }

    /// The same with the message behind a padding frame: rank 1's ring, drained past its first
    /// quarter, sends it back to the start first (as small messages routinely are).
    @Test func aMessageBehindPaddingWhereAPostIsAwaitedIsAMismatch() throws {
        let group = try TestGroups.sharedMemory(worldSize: 2, ringBytes: 64 << 10)
        defer { group.forEach { $0.close() } }
        for transport in group { transport.waitPolicy = .sleep }
        var large = [UInt8](repeating: 3, count: 20 << 10)
        var landing = [UInt8](repeating: 0, count: 20 << 10)
        let sent = try large.withUnsafeMutableBytes { try group[1].postSend(UnsafeRawBufferPointer($0), to: 0, tag: 1) }
        try landing.withUnsafeMutableBytes { try group[0].receive(into: $0, from: 1, tag: 1, deadline: .after(seconds: 10)) }
        try group[1].wait(sent, deadline: .after(seconds: 10))
        try Self.expectMismatchFromAMessageWhileAPostIsAwaited(group)
    }

    /// The other way round: rank 0 waits for a message while rank 1 posts on the board.
    @Test func aPostWhereAMessageIsAwaitedIsAMismatch() throws {
        let group = try Self.sleepingGroup(2)
        defer { group.forEach { $0.close() } }
        var value: UInt64 = 5
        try withUnsafeBytes(of: &value) { try group[1].publish($0, tag: MessageTag(4, call: 1, count: 2), deadline: .after(seconds: 10)) }
        var buffer = [Float](repeating: 0, count: 100)
        let start = Deadline.now
        let error = #expect(throws: TransportError.self) {
            try buffer.withUnsafeMutableBytes { try group[0].receive(into: $0, from: 1, tag: MessageTag(4, call: 3, count: 100), deadline: .after(seconds: 30)) }
        }
        #expect(error?.mismatch?.sent == MessageTag(4, call: 1, count: 2), "\(String(describing: error))")
        #expect(error?.peer == 1)
        #expect(buffer.allSatisfy { $0 == 0 })
        #expect(Deadline.now.uptimeNanoseconds - start.uptimeNanoseconds < 5_000_000_000)
    }
}
