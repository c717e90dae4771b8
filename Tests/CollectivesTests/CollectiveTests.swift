import Collectives
import CollectivesTestSupport
import CollectivesTransport
import CollectivesVerification
import Testing

/// Every collective besides all-reduce, over in-process transports, world sizes 1 to 8 and 13,
/// counts {0, 1, n − 1, not divisible, above the tree/chain switch}, every type (and every
/// operation for those that reduce), in place and out of place.
@Suite struct CollectiveTests {
    static let collectives: [CollectiveName] = CollectiveName.allCases.filter { $0 != .allReduce }

    @Test(arguments: AlgorithmTests.worldSizes)
    func everyCollectiveTypeAndCount(worldSize n: Int) {
        let communicators = inProcessCommunicators(n)
        defer { communicators.forEach { $0.close() } }
        var cases: [CheckCase] = []
        for collective in Self.collectives {
            for count in [0, 1, max(0, n - 1), 1001] {
                for dataType in DataType.allCases {
                    for op in collective.reduces ? ReduceOperation.allCases.filter({ $0.applies(to: dataType) }) : [.sum] {
                        for inPlace in [true, false] {
                            cases.append(CheckCase(collective: collective, dataType: dataType, count: count, op: op, inPlace: inPlace))
                        }
                    }
                }
            }
            // Above 64 KiB: the pipelined chain for broadcast and reduce.
            cases.append(CheckCase(collective: collective, dataType: .float32, count: 20_003, op: .average))
            cases.append(CheckCase(collective: collective, dataType: .int32, count: 20_003, op: .min, inPlace: false))
        }
        let problems = runBatch(cases, on: communicators)
        #expect(problems.isEmpty, "\(n) ranks: \(problems.prefix(10))")
    }

    /// Collectives over the RDMA transport's protocol (in-memory queue pairs: no device here),
    /// with 4 KiB rings so that every large message wraps and waits for credits.
    @Test(arguments: [2, 3, 5])
    func collectivesOverTheVerbsProtocol(worldSize n: Int) throws {
        var options = CommunicatorOptions()
        options.timeoutSeconds = 60
        options.ringSegmentBytes = 1000
        options.costModel = CostModel(latencySeconds: 20e-6, secondsPerByte: 1e-9, reduceSecondsPerByte: 1e-10)
        let fabric = InMemoryVerbsFabric(worldSize: n, ringBytes: 4096)
        let communicators = try fabric.makeGroup(depth: 8).map { Communicator(transport: $0, options: options) }
        defer { communicators.forEach { $0.close() } }
        var cases: [CheckCase] = []
        for algorithm in [Algorithm.ring, .tree, .recursiveDoubling, .rabenseifner, .central] {
            for count in [0, 1, n - 1, 1001, 20_003] {
                cases.append(CheckCase(collective: .allReduce, dataType: .float32, count: count, op: .sum, algorithm: algorithm))
            }
        }
        for collective in [CollectiveName.broadcast, .reduce, .allGather, .reduceScatter, .allToAll, .gather, .scatter, .barrier, .sendReceive] {
            cases.append(CheckCase(collective: collective, dataType: .int64, count: 5003, op: .max))
        }
        let problems = runBatch(cases, on: communicators)
        #expect(problems.isEmpty, "\(n) ranks: \(problems.prefix(5))")
    }

    @Test func nonBlockingCollectivesInFlightTogether() throws {
        let n = 4
        let communicators = inProcessCommunicators(n, segmentBytes: 1024)
        defer { communicators.forEach { $0.close() } }
        let outcomes = runRanks(n) { rank -> Bool in
            let c = communicators[rank]
            var a = [Float](repeating: Float(rank), count: 10_007)
            var b = [Int32](repeating: rank == 2 ? 7 : 0, count: 333)
            let mine = [Double](repeating: Double(rank), count: 17)
            var gathered = [Double](repeating: -1, count: 17 * n)
            let whole = [Int64](repeating: Int64(rank + 1), count: 5 * n)
            var block = [Int64](repeating: 0, count: 5)
            try a.withUnsafeMutableBufferPointer { a in
                try b.withUnsafeMutableBufferPointer { b in
                    try mine.withUnsafeBufferPointer { mine in
                        try gathered.withUnsafeMutableBufferPointer { gathered in
                            try whole.withUnsafeBufferPointer { whole in
                                try block.withUnsafeMutableBufferPointer { block in
                                    let requests = [
                                        c.startAllReduce(a, op: .sum),
                                        c.startBroadcast(b, root: 2),
                                        c.startAllGather(mine, into: gathered),
                                        c.startReduceScatter(whole, into: block, op: .sum),
                                        c.startAllReduce(a, op: .max),
                                    ]
                                    // Waited for in reverse order: each still completes in issue order.
                                    for request in requests.reversed() { try request.wait() }
                                }
                            }
                        }
                    }
                }
            }
            let sum = Float((0..<n).reduce(0, +))
            return a.allSatisfy { $0 == sum } && b.allSatisfy { $0 == 7 }
                && gathered == (0..<n).flatMap { [Double](repeating: Double($0), count: 17) }
                && block.allSatisfy { $0 == Int64(n * (n + 1) / 2) }
        }
        for (rank, outcome) in outcomes.enumerated() { #expect((try? outcome.get()) == true, "rank \(rank): \(outcome)") }
    }

    @Test func subCommunicatorsRunAtTheSameTime() throws {
        let n = 6
        let communicators = inProcessCommunicators(n, segmentBytes: 4096)
        defer { communicators.forEach { $0.close() } }
        let outcomes = runRanks(n) { rank -> [String] in
            let parent = communicators[rank]
            var problems: [String] = []
            // Parity groups, ranked in reverse; rank 5 joins none in the second split.
            guard let half = try parent.split(color: rank % 2, key: -rank) else { return ["no group"] }
            defer { half.close() }
            if half.worldSize != 3 { problems.append("size \(half.worldSize)") }
            if half.rank != 2 - rank / 2 { problems.append("rank \(half.rank)") }
            let other = try parent.split(color: rank == 5 ? nil : 0, key: rank)
            defer { other?.close() }
            if (other == nil) != (rank == 5) { problems.append("nil-colour split") }
            // Both halves all-reduce at once, many times, while the parent does too.
            for round in 0..<20 {
                let values = UnsafeMutableBufferPointer<Int64>.allocate(capacity: 1001)
                defer { values.deallocate() }
                values.initialize(repeating: Int64(rank + round))
                let pending = half.startAllReduce(values, op: .sum)
                var everyone = [Int64](repeating: 1, count: 3)
                try parent.allReduce(&everyone, op: .sum)
                try pending.wait()
                let expected = (0..<n).filter { $0 % 2 == rank % 2 }.reduce(0) { $0 + Int64($1 + round) }
                if values[0] != expected || values[1000] != expected { problems.append("round \(round): \(values[0]) not \(expected)") }
                if everyone != [Int64](repeating: Int64(n), count: 3) { problems.append("parent: \(everyone)") }
            }
            if let other {
                let sum = try other.allGather([Int32(rank)])
                if sum != [0, 1, 2, 3, 4] { problems.append("other: \(sum)") }
            }
            // A hierarchical all-reduce from splits equals the flat one.
            let node = try parent.split(color: rank / 2, key: rank)!
            defer { node.close() }
            let leaders = try parent.split(color: node.rank == 0 ? 0 : nil, key: rank)
            defer { leaders?.close() }
            var hierarchical = (0..<257).map { Double($0 * (rank + 1)) }
            var flat = hierarchical
            try node.reduce(&hierarchical, op: .sum, root: 0)
            if let leaders { try leaders.allReduce(&hierarchical, op: .sum) }
            try node.broadcast(&hierarchical, root: 0)
            try parent.allReduce(&flat, op: .sum)
            if hierarchical != flat { problems.append("hierarchical differs from flat") }
            return problems
        }
        for (rank, outcome) in outcomes.enumerated() {
            #expect((try? outcome.get()) == [], "rank \(rank): \(outcome)")
        }
    }

    @Test func pointToPointChecksPeersTagsAndSizes() {
        let communicators = inProcessCommunicators(2)
        defer { communicators.forEach { $0.close() } }
        let outcomes = runRanks(2) { rank -> [String] in
            let c = communicators[rank]
            var problems: [String] = []
            // Blocking, in order, with tags.
            if rank == 0 {
                try c.send([Float](repeating: 1.5, count: 3), to: 1, tag: 9)
                let back: [Int64] = try c.receive(count: 2, from: 1, tag: 10)
                if back != [4, 5] { problems.append("got \(back)") }
            } else {
                let got: [Float] = try c.receive(count: 3, from: 0, tag: 9)
                if got != [1.5, 1.5, 1.5] { problems.append("got \(got)") }
                try c.send([Int64(4), 5], to: 0, tag: 10)
            }
            // Bad arguments fail on the caller alone.
            do { try c.send([Float(1)], to: rank, tag: 1); problems.append("sent to self") } catch let error as CollectivesError {
                if error.kind != .invalidArgument { problems.append("\(error)") }
            }
            do { try c.send([Float(1)], to: 1 - rank, tag: -1); problems.append("negative tag") } catch let error as CollectivesError {
                if error.kind != .invalidArgument { problems.append("\(error)") }
            }
            // A receive expecting another tag is a mismatch on both sides, not a silent mix-up.
            if rank == 0 {
                do { try c.send([Float(2)], to: 1, tag: 3); problems.append("mismatch not seen by the sender?") } catch {}
            } else {
                do {
                    let _: [Float] = try c.receive(count: 1, from: 0, tag: 4)
                    problems.append("mismatched tag accepted")
                } catch let error as CollectivesError {
                    if error.kind != .mismatch { problems.append("\(error)") }
                    if !error.description.contains("tag") { problems.append("\(error)") }
                }
            }
            return problems
        }
        #expect((try? outcomes[1].get()) == [], "\(outcomes[1])")
        switch outcomes[0] {
        case .success(let problems):
            let unexpected: [String] = problems.filter { !$0.hasPrefix("mismatch not seen") }
            #expect(unexpected.isEmpty, "\(problems)")
        case .failure(let error):
            Issue.record("rank 0 threw: \(error)")
        }
    }

    @Test func badArgumentsAreClearErrors() {
        let communicators = inProcessCommunicators(3)
        defer { communicators.forEach { $0.close() } }
        let c = communicators[0]
        var wrong = [Float](repeating: 0, count: 7)
        let error = wrong.withUnsafeMutableBufferPointer { buffer in
            #expect(throws: CollectivesError.self) { try c.allGather(inPlace: buffer) }
        }
        #expect(error?.kind == .invalidArgument)
        #expect(error?.description.contains("3 × 2") == true, "\(String(describing: error))")
        #expect(throws: CollectivesError.self) { var v = [Float](repeating: 0, count: 3); try c.broadcast(&v, root: 3) }
        #expect(throws: CollectivesError.self) { _ = try c.split(color: -2) }
    }
}
