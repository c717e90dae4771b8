import Collectives
import CollectivesTestSupport
import CollectivesSystem
import CollectivesTransport
import Foundation
import Testing

/// The flight recorder: what it keeps of each call, what a timeout writes, and what the
/// analysis says of the dumps of a job. The oracle is the list of calls each test makes.
@Suite struct FlightRecorderTests {
    /// A folder of its own for a test's dumps, removed after.
    func withFolder(_ body: (String) throws -> Void) rethrows {
        let folder = "/tmp/collectives-flight-test-\(getpid())-\(UInt64.random(in: 0..<UInt64.max))"
        defer { try? FileManager.default.removeItem(atPath: folder) }
        try body(folder)
    }

    @Test func eachCallIsKeptWithItsStateInOrderAndTheRingKeepsTheLast() throws {
        var options = CommunicatorOptions()
        options.timeoutSeconds = 30
        options.flightRecorderEntries = 4
        options.algorithm = .ring
        let communicators = InProcessTransport.makeGroup(worldSize: 3).map { Communicator(transport: $0, options: options) }
        defer { communicators.forEach { $0.close() } }
        let results = runRanks(3) { rank in
            let communicator = communicators[rank]
            var values = [Float](repeating: 1, count: 1001)
            try communicator.allReduce(&values, op: .sum)
            var small = [Int32](repeating: Int32(rank), count: 7)
            try communicator.broadcast(&small, root: 1)
            try communicator.barrier()
            var empty: [Float] = []
            try communicator.allReduce(&empty, op: .max)
            var doubles = [Double](repeating: 2, count: 5)
            try communicator.allReduce(&doubles, op: .max)
            let gathered = try communicator.allGather([UInt8](repeating: UInt8(rank), count: 3))
            return (communicator.recorder?.records() ?? [], gathered.count)
        }
        for (rank, result) in results.enumerated() {
            let (records, gathered) = try result.get()
            #expect(gathered == 9)
            // Six calls made, the empty all-reduce moves nothing and is not kept; four kept of five.
            #expect(records.map(\.operation) == ["broadcast", "barrier", "all-reduce", "all-gather"], "rank \(rank): \(records)")
            #expect(records.allSatisfy { $0.state == .done }, "rank \(rank): \(records)")
            #expect(records[0].root == 1 && records[0].count == 7 && records[0].dataType == "int32")
            #expect(records[2].count == 5 && records[2].dataType == "float64" && records[2].op == "max" && records[2].algorithm == "ring")
            #expect(zip(records, records.dropFirst()).allSatisfy { $0.sequence < $1.sequence })
            #expect(records.allSatisfy { record in record.endedNanoseconds.map { $0 >= record.startedNanoseconds } ?? false })
        }
    }

    @Test func aTimeoutWritesTheRecorderNamingTheCallAndThePeer() throws {
        try withFolder { folder in
            var options = CommunicatorOptions()
            options.timeoutSeconds = 0.5
            options.algorithm = .ring
            options.flightRecorderDirectory = folder
            // Over TCP, whose timeouts name the peer waited on.
            let communicators = try TestGroups.tcp(worldSize: 2).map { Communicator(transport: $0, options: options) }
            defer { communicators.forEach { $0.close() } }
            // Rank 0 all-reduces alone.
            var values = [Float](repeating: 1, count: 100)
            #expect(throws: CollectivesError.self) { try communicators[0].allReduce(&values) }
            let dumps = try FlightDump.readAll(from: folder)
            let mine = try #require(dumps.first { $0.communicator == communicators[0].recorder?.communicator && $0.rank == 0 },
                                    "no dump of rank 0 in \(folder): \(dumps)")
            #expect(mine.reason == .timeout && mine.worldSize == 2 && mine.pid == getpid())
            let last = try #require(mine.calls.last)
            #expect(last.operation == "all-reduce" && last.count == 100 && last.state == .failed)
            #expect(last.peer == 1, "\(last)")
            #expect(last.error?.contains("timed out") == true, "\(last)")
            // Only the communicator that timed out is written.
            #expect(!dumps.contains { $0.communicator == communicators[1].recorder?.communicator })
        }
    }

    @Test func withoutEntriesThereIsNoRecorder() {
        var options = CommunicatorOptions()
        options.flightRecorderEntries = 0
        let communicators = InProcessTransport.makeGroup(worldSize: 2).map { Communicator(transport: $0, options: options) }
        defer { communicators.forEach { $0.close() } }
        #expect(communicators.allSatisfy { $0.recorder == nil })
    }

    @Test func theRingWrapsAndADumpRoundTripsThroughJSON() throws {
        let recorder = FlightRecorder(communicator: 7, rank: 1, worldSize: 3, capacity: 3, directory: "/nonexistent")
        #expect(recorder.records().isEmpty)
        recorder.end()
        for sequence in 1...5 as ClosedRange<UInt64> {
            recorder.begin(MessageTag(sequence << 8 | 1, call: 0, count: sequence * 10))
            // The same call's second exchange adds nothing.
            recorder.begin(MessageTag(sequence << 8 | 1, call: 0, count: sequence * 10))
            if sequence < 5 { recorder.end() }
        }
        recorder.fail(peer: 2, error: "gone")
        let records = recorder.records()
        #expect(records.map(\.sequence) == [3, 4, 5])
        #expect(records.map(\.count) == [30, 40, 50])
        #expect(records.map(\.state) == [.done, .done, .failed])
        #expect(records.last?.peer == 2 && records.last?.error == "gone")
        #expect(records.allSatisfy { $0.operation == "all-reduce" && $0.dataType == nil })
        let dump = recorder.dump(reason: .request)
        let decoded = try FlightDump.decode(dump.encoded())
        #expect(decoded.calls == dump.calls && decoded.communicator == 7 && decoded.rank == 1 && decoded.reason == .request)
        // A folder that cannot be made is an error, not a crash.
        #expect(throws: (any Error).self) { try dump.write(to: "/proc/no-such-folder") }
    }

    /// `collectives-run --dump-on-timeout` signals every rank when one fails, often after the
    /// others have timed out and written their dumps: the signal's dump must not replace the
    /// timeout's (the file would say the rank was merely asked). Before a timeout, and for a
    /// program's own request, the newest dump wins.
    @Test func aSignalDoesNotReplaceATimeoutsDump() throws {
        try withFolder { folder in
            let recorder = FlightRecorder(communicator: 3, rank: 2, worldSize: 4, capacity: 4, directory: folder)
            recorder.begin(MessageTag(1 << 8 | 1, call: 0, count: 10))
            let path = try recorder.writeDump(reason: .signal)
            func onDisk() throws -> FlightDump.Reason { try FlightDump.decode(Data(contentsOf: URL(fileURLWithPath: path))).reason }
            #expect(try onDisk() == .signal)
            recorder.fail(peer: 1, error: "timed out")
            #expect(try recorder.writeDump(reason: .timeout) == path)
            #expect(try onDisk() == .timeout)
            #expect(try recorder.writeDump(reason: .signal) == path)
            #expect(try onDisk() == .timeout)
        }
    }
}

/// What the analysis of a job's dumps says, on dumps made by hand.
@Suite struct FlightAnalysisTests {
    func call(_ sequence: UInt64, _ state: FlightRecord.State, _ operation: String = "all-reduce", count: Int = 10,
              peer: Int? = nil) -> FlightRecord {
        FlightRecord(sequence: sequence, operation: operation, dataType: "float32", count: count, op: "sum", state: state, peer: peer)
    }

    func dump(_ rank: Int, of world: Int = 4, _ calls: [FlightRecord]) -> FlightDump {
        FlightDump(communicator: 0, rank: rank, worldSize: world, host: "h", pid: Int32(100 + rank), reason: .signal,
                   dumpedNanoseconds: 1, calls: calls)
    }

    @Test func aRankThatNeverReachedTheCallIsBehind() {
        let verdict = FlightAnalysis([
            dump(0, [call(4, .done), call(5, .running)]), dump(1, [call(4, .done), call(5, .failed, peer: 2)]),
            dump(2, [call(3, .done), call(4, .done)]), dump(3, [call(5, .running)]),
        ]).verdicts[0]
        #expect(verdict.behind == [2])
        #expect(verdict.furthest?.sequence == 5)
        #expect(verdict.stuckIn == [0, 1, 3])
        #expect(verdict.missing.isEmpty && verdict.mismatches.isEmpty)
        #expect(verdict.lines.contains { $0.contains("rank 2 is behind: it has not reached all-reduce #5") }, "\(verdict.lines)")
        #expect(verdict.lines.contains { $0.contains("rank 1 (pid 101 on h): failed, waiting on rank 2") }, "\(verdict.lines)")
    }

    @Test func ranksInsideTheSameCallMissingDumpsAndMismatchesAreSaid() {
        let inside = FlightAnalysis([dump(0, of: 3, [call(2, .running)]), dump(1, of: 3, [call(2, .running, "broadcast", count: 3)])]).verdicts[0]
        #expect(inside.behind.isEmpty && inside.stuckIn == [0, 1] && inside.missing == [2])
        #expect(inside.mismatches == ["rank 0 all-reduce #2 (10 × float32, sum), rank 1 broadcast #2 (3 × float32, sum)"], "\(inside.mismatches)")
        #expect(inside.lines.contains { $0.contains("no dump from rank 2") })
        let finished = FlightAnalysis([dump(0, of: 2, [call(9, .done)]), dump(1, of: 2, [call(9, .done)])]).verdicts[0]
        #expect(finished.behind.isEmpty && finished.stuckIn.isEmpty)
        #expect(finished.lines.contains { $0.contains("every rank finished all-reduce #9") })
        let none = FlightAnalysis([dump(0, of: 2, []), dump(1, of: 2, [])]).verdicts[0]
        #expect(none.furthest == nil && none.lines.contains { $0.contains("no rank has made a collective call") })
    }
}
