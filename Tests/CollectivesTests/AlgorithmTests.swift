import Collectives
import CollectivesTestSupport
import CollectivesTransport
import CollectivesVerification
import Testing

/// Every all-reduce algorithm, forced in turn, over in-process transports: world sizes 1 to 8
/// and 13, counts {0, 1, n − 1, not divisible, large}, every type and operation.
@Suite struct AlgorithmTests {
    static let worldSizes = Array(1...8) + [13]
    /// (One-shot has no board on in-process transports: it runs as recursive doubling there.)
    static let forced: [Algorithm] = [.ring, .tree, .recursiveDoubling, .rabenseifner, .central, .oneShot, .auto]

    @Test(arguments: worldSizes)
    func everyAlgorithmTypeOpAndCount(worldSize n: Int) {
        let communicators = inProcessCommunicators(n)
        defer { communicators.forEach { $0.close() } }
        var cases: [CheckCase] = []
        for algorithm in Self.forced {
            for count in [0, 1, max(0, n - 1), 1007] {
                for dataType in DataType.allCases {
                    for op in ReduceOperation.allCases where op.applies(to: dataType) {
                        cases.append(CheckCase(collective: .allReduce, dataType: dataType, count: count, op: op, algorithm: algorithm))
                        // The ring reads the send buffer of an out-of-place call as it goes, and
                        // combines it with what arrives straight into the output.
                        if algorithm == .ring {
                            cases.append(CheckCase(collective: .allReduce, dataType: dataType, count: count, op: op, algorithm: algorithm,
                                                   inPlace: false))
                        }
                    }
                }
            }
            cases.append(CheckCase(collective: .allReduce, dataType: .float32, count: 100_003, op: .average, algorithm: algorithm))
            cases.append(CheckCase(collective: .allReduce, dataType: .int64, count: 100_003, op: .max, algorithm: algorithm, inPlace: false))
        }
        let problems = runBatch(cases, on: communicators)
        #expect(problems.isEmpty, "\(n) ranks: \(problems.prefix(10))")
    }

    @Test(arguments: [2, 5, 8])
    func everyAlgorithmGivesEveryRankTheSameBits(worldSize n: Int) {
        let communicators = inProcessCommunicators(n, segmentBytes: 4096)
        defer { communicators.forEach { $0.close() } }
        for algorithm in Self.forced {
            let outputs = runRanks(n) { rank -> [Float] in
                // Values whose sums round differently in different orders.
                var values = (0..<10_001).map { Float(rank + 1) * 0.1 + Float($0) * 1e-3 }
                try communicators[rank].allReduce(&values, op: .sum, algorithm: algorithm)
                return values
            }
            let results = outputs.compactMap { try? $0.get() }
            #expect(results.count == n, "\(algorithm)")
            for result in results.dropFirst() { #expect(result == results[0], "\(algorithm): ranks differ") }
        }
    }

    /// One-shot on its board: communicators over shared-memory transports (one thread per
    /// rank), every type and operation, counts of zero, one, below the world size, not
    /// divisible, exactly a full post and one element past it (recursive doubling then), in place
    /// and out of place, against the reference computed in Double; then every rank's bits alike.
    @Test(arguments: [2, 3, 5, 8])
    func oneShotOverSharedMemory(worldSize n: Int) throws {
        var options = CommunicatorOptions()
        options.timeoutSeconds = 60
        options.costModel = CostModel(latencySeconds: 20e-6, secondsPerByte: 1e-9, reduceSecondsPerByte: 1e-10)
        let communicators = try TestGroups.sharedMemory(worldSize: n).map { Communicator(transport: $0, options: options) }
        defer { communicators.forEach { $0.close() } }
        var cases: [CheckCase] = []
        for dataType in DataType.allCases {
            let full = (32 << 10) / dataType.size
            for count in [0, 1, max(0, n - 1), 1007, full, full + 1] {
                for op in ReduceOperation.allCases where op.applies(to: dataType) {
                    for inPlace in [true, false] {
                        cases.append(CheckCase(collective: .allReduce, dataType: dataType, count: count, op: op, algorithm: .oneShot,
                                               inPlace: inPlace))
                    }
                }
            }
        }
        let problems = runBatch(cases, on: communicators)
        #expect(problems.isEmpty, "\(n) ranks: \(problems.prefix(10))")
        let outputs = runRanks(n) { rank -> [Float] in
            var values = (0..<5_001).map { Float(rank + 1) * 0.1 + Float($0) * 1e-3 }
            try communicators[rank].allReduce(&values, op: .sum, algorithm: .oneShot)
            return values
        }
        let results = outputs.compactMap { try? $0.get() }
        #expect(results.count == n)
        for result in results.dropFirst() { #expect(result == results[0], "one-shot: ranks differ") }
    }

    /// Rabenseifner's between recursive doubling and the ring: fewer bytes than the first, fewer
    /// latencies than the second.
    @Test func theCostModelChoosesRabenseifnerForMidSizes() {
        let model = CostModel(latencySeconds: 30e-6, secondsPerByte: 1e-9, reduceSecondsPerByte: 2e-10)
        for n in [4, 8] {
            let choices = [8, 512 << 10, 256 << 20].map { model.choose(bytes: $0, worldSize: n, segmentBytes: 512 << 10) }
            #expect(choices == [.recursiveDoubling, .rabenseifner, .ring], "\(n) ranks: \(choices)")
        }
        #expect(Algorithm(name: "rhd") == .rabenseifner && Algorithm(name: "rabenseifner") == .rabenseifner)
    }

    @Test func theCostModelChoosesOneShotOnlyWhereABoardCarriesIt() {
        let model = CostModel(latencySeconds: 30e-6, secondsPerByte: 1e-9, reduceSecondsPerByte: 2e-10,
                              oneShot: CostModel.OneShotCost(fixedSeconds: 1e-6, secondsPerByte: 1e-9))
        #expect(model.choose(bytes: 8, worldSize: 4, segmentBytes: 512 << 10, boardCapacity: 32 << 10) == .oneShot)
        #expect(model.choose(bytes: 8, worldSize: 4, segmentBytes: 512 << 10) == .recursiveDoubling)
        #expect(model.choose(bytes: (32 << 10) + 4, worldSize: 4, segmentBytes: 512 << 10, boardCapacity: 32 << 10) != .oneShot)
        #expect(Algorithm(name: "one-shot") == .oneShot && Algorithm(name: "oneshot") == .oneShot)
    }

    @Test func theCostModelPicksFewMessagesForSmallAndTheRingForLarge() {
        let model = CostModel(latencySeconds: 30e-6, secondsPerByte: 1e-9, reduceSecondsPerByte: 2e-10)
        for n in [2, 4, 8, 13] {
            #expect(model.choose(bytes: 8, worldSize: n, segmentBytes: 512 << 10) == .recursiveDoubling, "\(n)")
            #expect(model.choose(bytes: 256 << 20, worldSize: n, segmentBytes: 512 << 10) == .ring, "\(n)")
        }
        // The central server is never chosen, and its predicted time grows with the world size.
        #expect(model.predictedSeconds(.central, bytes: 1 << 20, worldSize: 8, segmentBytes: 512 << 10)
                > model.predictedSeconds(.ring, bytes: 1 << 20, worldSize: 8, segmentBytes: 512 << 10))
    }

    @Test func autoMeasuresItsModelOnceAndAgreesAcrossRanks() {
        var options = CommunicatorOptions()
        options.timeoutSeconds = 30
        let n = 4
        let communicators = InProcessTransport.makeGroup(worldSize: n).map { Communicator(transport: $0, options: options) }
        defer { communicators.forEach { $0.close() } }
        let outcomes = runRanks(n) { rank -> Int in
            var wrong = 0
            for count in [2, 100, 300_000] {
                wrong += try CollectiveCheck.wrongElements(.allReduce, Float.self, count: count, op: .sum, communicator: communicators[rank])
            }
            return wrong
        }
        for outcome in outcomes { #expect((try? outcome.get()) == 0, "\(outcome)") }
    }

    @Test func algorithmNamesAndEnvironment() throws {
        #expect(Algorithm(name: "rd") == .recursiveDoubling)
        #expect(Algorithm(name: "Tree") == .tree)
        #expect(Algorithm(name: "star") == nil)
        var options = CommunicatorOptions()
        try options.applyTuning(from: ["COLLECTIVES_ALGORITHM": "tree", "COLLECTIVES_LATENCY_US": "50", "COLLECTIVES_BANDWIDTH_GBPS": "2"])
        #expect(options.algorithm == .tree)
        #expect(abs((options.costModel?.latencySeconds ?? 0) - 50e-6) < 1e-12)
        #expect(throws: CollectivesError.self) { try options.applyTuning(from: ["COLLECTIVES_ALGORITHM": "fastest"]) }
        #expect(throws: CollectivesError.self) { try options.applyTuning(from: ["COLLECTIVES_LATENCY_US": "5"]) }
    }
}
