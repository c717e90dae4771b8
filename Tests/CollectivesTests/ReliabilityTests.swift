import CollectivesTestSupport
import Collectives
import CollectivesRendezvous
import CollectivesSystem
import CollectivesTransport
import Synchronization
import Testing

#if canImport(Glibc)
import Glibc
#endif

@Suite struct ReliabilityTests {
    @Test func abortWakesABlockedCallAtOnce() throws {
        var options = CommunicatorOptions()
        options.timeoutSeconds = 60
        let communicators = InProcessTransport.makeGroup(worldSize: 2).map { Communicator(transport: $0, options: options) }
        defer { communicators.forEach { $0.close() } }
        let outcome = Locked<CollectivesError?>(nil)
        let started = Deadline.now
        // Rank 0 all-reduces alone: it blocks until aborted.
        let blocked = SystemThread(name: "blocked") {
            var values = [Float](repeating: 1, count: 1000)
            do { try communicators[0].allReduce(&values) } catch let error as CollectivesError { outcome.withLock { $0 = error } } catch {}
        }
        #expect(awaitParked { communicators[0].transportProbe?.parkedWaiters ?? 0 }, "rank 0 never parked in its all-reduce")
        communicators[0].abort()
        blocked.join()
        let error = outcome.withLock { $0 }
        #expect(error?.kind == .closed, "\(String(describing: error))")
        #expect(Deadline.now.uptimeNanoseconds - started.uptimeNanoseconds < 5_000_000_000)
        // And later calls fail the same way, at once.
        var more = [Float](repeating: 1, count: 10)
        #expect(throws: CollectivesError.self) { try communicators[0].allReduce(&more) }
    }

    /// A call started from another thread while a blocking call runs (on the queue's lock-free
    /// path) is queued behind it and returns at once, as `start…` promises, instead of waiting
    /// for the blocking call to end.
    @Test func aStartedSendReturnsAtOnceWhileAnotherThreadsCallRuns() throws {
        var options = CommunicatorOptions()
        options.timeoutSeconds = 60
        let communicators = InProcessTransport.makeGroup(worldSize: 2).map { Communicator(transport: $0, options: options) }
        defer { communicators.forEach { $0.close() } }
        let reduced = Locked<[Float]?>(nil)
        // Rank 0 all-reduces before rank 1 does: it blocks, inside its call.
        let blocked = SystemThread(name: "blocked") {
            var values = [Float](repeating: 1, count: 1000)
            if (try? communicators[0].allReduce(&values)) != nil { reduced.withLock { $0 = values } }
        }
        #expect(awaitParked { communicators[0].transportProbe?.parkedWaiters ?? 0 }, "rank 0 never parked in its all-reduce")
        let message: [Int32] = [7, 8, 9]
        let started = Deadline.now
        let send = message.withUnsafeBufferPointer { communicators[0].startSend($0, to: 1, tag: 5) }
        let seconds = Double(Deadline.now.uptimeNanoseconds - started.uptimeNanoseconds) / 1e9
        #expect(seconds < 5, "startSend waited \(seconds) s for the other thread's call")
        // Rank 1 joins the all-reduce, then receives what was sent after it.
        var values = [Float](repeating: 2, count: 1000)
        try communicators[1].allReduce(&values)
        let received: [Int32] = try communicators[1].receive(count: 3, from: 0, tag: 5)
        try send.wait()
        blocked.join()
        #expect(received == message)
        #expect(reduced.withLock { $0 } == [Float](repeating: 3, count: 1000))
    }

    @Test func mismatchedCallsNameBothCallsOnEveryRankInProcess() {
        let communicators = inProcessCommunicators(2)
        defer { communicators.forEach { $0.close() } }
        let outcomes = runRanks(2) { rank in
            var values = [Float](repeating: 1, count: 100)
            if rank == 0 { try communicators[rank].allReduce(&values, op: .sum, algorithm: .ring) } else {
                try communicators[rank].allReduce(&values, op: .max, algorithm: .ring)
            }
        }
        for (rank, outcome) in outcomes.enumerated() {
            guard case .failure(let error as CollectivesError) = outcome else {
                Issue.record("rank \(rank) did not fail: \(outcome)")
                continue
            }
            #expect(error.kind == .mismatch)
            #expect(error.description.contains("(100 × float32, sum, ring)") && error.description.contains("(100 × float32, max, ring)"),
                    "\(error)")
        }
    }

    // A thousand communicators made, used and closed leave no descriptor or thread behind: see
    // `aThousandCommunicatorCyclesLeaveNothingBehind` (MultiProcessTests), which counts them in a
    // process of its own; counted here, the other suites' descriptors would blur the count.
}
