import Collectives
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
            for count in [0, 1, 3, worldSize - 1, 1000, (1 << 20) + 7] {
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

    @Test func aWorldOfOneNeedsNoStore() throws {
        let communicator = try Communicator(configuration: configuration(rank: 0, worldSize: 1, port: 1))
        defer { communicator.close() }
        var values: [Float] = [1, 2, 3]
        try communicator.allReduce(&values, op: .average)
        #expect(values == [1, 2, 3])
    }
}
