import Collectives
import CollectivesTestSupport
import CollectivesRendezvous
import CollectivesSystem
import CollectivesVerification
import Testing

/// Communicators bootstrapped through the TCP store and connected over loopback TCP, with the
/// ranks as threads of the test process. (The multi-process tests run them as processes.)
@Suite(.serialized) struct TCPCommunicatorTests {
    func configuration(rank: Int, worldSize: Int, port: UInt16, timeout: Double = 30) -> LaunchConfiguration {
        LaunchConfiguration(rank: rank, worldSize: worldSize, masterAddress: "127.0.0.1", masterPort: port, timeoutSeconds: timeout)
    }

    @Test(arguments: [1, 2, 3, 5])
    func allReduceOverTCP(worldSize: Int) throws {
        let port = try freeLoopbackPort()
        let outcomes = runRanks(worldSize) { rank -> Int in
            var options = CommunicatorOptions()
            options.ringSegmentBytes = 4096
            let communicator = try Communicator(configuration: configuration(rank: rank, worldSize: worldSize, port: port), options: options)
            defer { communicator.close() }
            #expect(communicator.rank == rank && communicator.worldSize == worldSize)
            var wrong = 0
            for count in [0, 1, 3, worldSize - 1, 1000, InProcessAllReduceTests.largeCount] {
                var values = [Float](repeating: 0, count: count)
                values.withUnsafeMutableBufferPointer { ReferencePattern.fill($0, rank: rank, op: .sum) }
                try communicator.allReduce(&values, op: .sum)
                wrong += values.withUnsafeBufferPointer { ReferencePattern.countWrong($0, worldSize: worldSize, op: .sum) }
                var integers = [Int64](repeating: 0, count: count)
                integers.withUnsafeMutableBufferPointer { ReferencePattern.fill($0, rank: rank, op: .average) }
                try communicator.allReduce(&integers, op: .average)
                wrong += integers.withUnsafeBufferPointer { ReferencePattern.countWrong($0, worldSize: worldSize, op: .average) }
            }
            return wrong
        }
        for (rank, outcome) in outcomes.enumerated() {
            #expect(try outcome.get() == 0, "rank \(rank)")
        }
    }

    @Test func aMasterThatNeverComesUpTimesOutClearly() throws {
        let port = try freeLoopbackPort()
        let start = Deadline.now
        let error = #expect(throws: CollectivesError.self) {
            _ = try Communicator(configuration: configuration(rank: 1, worldSize: 2, port: port, timeout: 1.5))
        }
        let elapsed = Double(Deadline.now.uptimeNanoseconds - start.uptimeNanoseconds) / 1e9
        #expect(elapsed < 10)
        #expect(error?.kind == .timedOut)
        #expect(error?.description.contains("rendezvous store at 127.0.0.1:\(port)") == true, "\(String(describing: error))")
        #expect(error?.description.contains("rank 1") == true)
    }

    @Test func aRankOutsideTheWorldIsRefused() throws {
        let error = #expect(throws: CollectivesError.self) {
            _ = try Communicator(configuration: configuration(rank: 4, worldSize: 4, port: 1))
        }
        #expect(error?.kind == .configuration)
        #expect(error?.description.contains("rank 4 is outside the world of 4 ranks") == true, "\(String(describing: error))")
    }

    @Test func twoRanksClaimingTheSameRankFailEverywhere() throws {
        let port = try freeLoopbackPort()
        // Ranks 0, 1 and 1 again in a world of three: rank 2 never comes.
        let claimed = [0, 1, 1]
        let outcomes = runRanks(3) { index -> Void in
            let communicator = try Communicator(configuration: configuration(rank: claimed[index], worldSize: 3, port: port, timeout: 20))
            communicator.close()
        }
        var messages: [String] = []
        for outcome in outcomes {
            if case .failure(let error) = outcome { messages.append("\(error)") }
        }
        #expect(messages.count == 3, "\(messages)")
        #expect(messages.allSatisfy { $0.contains("rank 1 was claimed by two processes") }, "\(messages)")
        #expect(messages.contains { $0.hasPrefix("rank 0:") }, "\(messages)")
    }

    @Test func aPortInUseIsNamed() throws {
        let holder = try Socket.listen(on: .loopback(port: 0))
        defer { holder.close() }
        let port = try holder.localAddress().port
        let error = #expect(throws: CollectivesError.self) {
            _ = try Communicator(configuration: configuration(rank: 0, worldSize: 2, port: port, timeout: 5))
        }
        #expect(error?.description.contains("127.0.0.1:\(port)") == true, "\(String(describing: error))")
        #expect(error?.description.contains("in use") == true, "\(String(describing: error))")
    }

    /// Rank 1 comes to an all-reduce long after rank 0 timed out in it. Rank 0's communicator
    /// has failed: its next calls (blocking, started and async) throw the original error at once,
    /// nothing is written into the buffer afterwards, and rank 1 finds rank 0 gone instead of
    /// waiting for its own timeout.
    @Test func aFailedCommunicatorFailsEveryLaterCallWithTheOriginalError() throws {
        let port = try freeLoopbackPort()
        let outcomes = runRanks(2) { rank -> [String] in
            let communicator = try Communicator(configuration: configuration(rank: rank, worldSize: 2, port: port, timeout: 1))
            defer { communicator.close() }
            var log: [String] = []
            try communicator.barrier()
            if rank == 1 { sleepSeconds(3) }
            var values = [Float](repeating: 7, count: 100_003)
            let start = Deadline.now
            do {
                try communicator.allReduce(&values, op: .sum, algorithm: .ring)
                log.append("all-reduce succeeded")
            } catch let error as CollectivesError {
                log.append("all-reduce: \(error.kind) after \((Deadline.now.uptimeNanoseconds - start.uptimeNanoseconds) / 1_000_000) ms")
                let original = error.description
                #expect(communicator.failure?.description == original, "rank \(rank)")
                // Everything later: at once, with the same error.
                let later = Deadline.now
                let barrier = #expect(throws: CollectivesError.self) { try communicator.barrier() }
                var more = [Float](repeating: 1, count: 5)
                let started = more.withUnsafeMutableBufferPointer { communicator.startAllReduce($0) }
                let request = #expect(throws: CollectivesError.self) { try started.wait() }
                let elapsed = Deadline.now.uptimeNanoseconds - later.uptimeNanoseconds
                #expect(barrier?.description == original && request?.description == original, "rank \(rank): \(String(describing: barrier))")
                #expect(elapsed < 100_000_000, "rank \(rank): later calls took \(elapsed / 1_000_000) ms")
                #expect(more == [1, 1, 1, 1, 1], "rank \(rank)")
            }
            if rank == 0 {
                // Rank 1's data would arrive now, if anything were still queued. A copy in storage of
                // its own (`let copy = values` would share the buffer a late write goes into).
                let copy = values.map { $0 }
                sleepSeconds(3)
                #expect(values == copy, "rank 0's buffer changed after its all-reduce failed")
            }
            return log
        }
        let logs = try outcomes.map { try $0.get() }
        #expect(logs[0].first?.hasPrefix("all-reduce: timedOut") == true, "\(logs)")
        // Rank 1 learns at once that rank 0 has gone, far within its own 1 s timeout.
        #expect(logs[1].first?.hasPrefix("all-reduce: peerGone") == true, "\(logs)")
    }

    /// Rank 0 starts all-reduces that rank 1 never joins, then closes: each fails, and its
    /// buffer is as it was.
    @Test func closeFailsQueuedCallsWithoutTouchingTheirBuffers() throws {
        let port = try freeLoopbackPort()
        let outcomes = runRanks(2) { rank -> Void in
            let communicator = try Communicator(configuration: configuration(rank: rank, worldSize: 2, port: port, timeout: 20))
            try communicator.barrier()
            guard rank == 0 else {
                sleepSeconds(0.5)
                communicator.close()
                return
            }
            let buffers = (0..<3).map { _ in UnsafeMutableBufferPointer<Float>.allocate(capacity: 1000) }
            defer { buffers.forEach { $0.deallocate() } }
            for buffer in buffers { buffer.initialize(repeating: 3) }
            let requests = buffers.map { communicator.startAllReduce($0) }
            communicator.close()
            for request in requests {
                let error = #expect(throws: CollectivesError.self) { try request.wait() }
                #expect(error?.kind == .closed || error?.kind == .peerGone, "\(String(describing: error))")
            }
            #expect(buffers.allSatisfy { $0.allSatisfy { $0 == 3 } })
        }
        for outcome in outcomes { _ = try outcome.get() }
    }

    @Test func aWorldOfOneNeedsNoStore() throws {
        let communicator = try Communicator(configuration: configuration(rank: 0, worldSize: 1, port: 1))
        defer { communicator.close() }
        var values: [Float] = [1, 2, 3]
        try communicator.allReduce(&values, op: .average)
        #expect(values == [1, 2, 3])
    }
}
