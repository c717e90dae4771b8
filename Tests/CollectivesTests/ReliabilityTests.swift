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
        let outcome = Mutex<CollectivesError?>(nil)
        let started = Deadline.now
        // Rank 0 all-reduces alone: it blocks until aborted.
        let blocked = SystemThread(name: "blocked") {
            var values = [Float](repeating: 1, count: 1000)
            do { try communicators[0].allReduce(&values) } catch let error as CollectivesError { outcome.withLock { $0 = error } } catch {}
        }
        sleepSeconds(0.2)
        communicators[0].abort()
        blocked.join()
        let error = outcome.withLock { $0 }
        #expect(error?.kind == .closed, "\(String(describing: error))")
        #expect(Deadline.now.uptimeNanoseconds - started.uptimeNanoseconds < 5_000_000_000)
        // And later calls fail the same way, at once.
        var more = [Float](repeating: 1, count: 10)
        #expect(throws: CollectivesError.self) { try communicators[0].allReduce(&more) }
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

    @Test func aThousandCommunicatorsLeaveNoFileDescriptors() throws {
        func openDescriptors() -> Int {
            guard let directory = opendir("/proc/self/fd") else { return -1 }
            defer { closedir(directory) }
            var count = 0
            while readdir(directory) != nil { count += 1 }
            return count
        }
        // Warm up (threads, logging), then count.
        try makeAndClose(1)
        let before = openDescriptors()
        try makeAndClose(1000)
        // Other suites run at the same time and open descriptors of their own for a while: take
        // the fewest seen over a few seconds. A leak here would be per communicator, so it would
        // stay (a thousand of them) whatever the others do.
        var after = openDescriptors()
        for _ in 0..<30 where after > before {
            sleepSeconds(0.1)
            after = Swift.min(after, openDescriptors())
        }
        #expect(after <= before, "\(before) descriptors before, \(after) after")
    }

    /// Pairs of TCP communicators over loopback, bootstrapped through a TCP store as two
    /// processes would be, then closed.
    func makeAndClose(_ rounds: Int) throws {
        for _ in 0..<rounds {
            let port = try freeLoopbackPort()
            let made = Mutex<[Communicator?]>([nil, nil])
            let threads = (0..<2).map { rank in
                SystemThread(name: "rank \(rank)") {
                    let configuration = LaunchConfiguration(rank: rank, worldSize: 2, masterAddress: "127.0.0.1", masterPort: port,
                                                            timeoutSeconds: 20)
                    var options = CommunicatorOptions()
                    options.transport = .tcp
                    let communicator = try? Communicator(configuration: configuration, options: options)
                    var one = [Int32(1)]
                    try? communicator?.allReduce(&one)
                    made.withLock { $0[rank] = communicator }
                }
            }
            threads.forEach { $0.join() }
            let pair = made.withLock { $0 }
            #expect(pair.allSatisfy { $0 != nil })
            pair.forEach { $0?.close() }
        }
    }
}
