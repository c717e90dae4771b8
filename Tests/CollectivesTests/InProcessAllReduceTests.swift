import Collectives
import CollectivesTestSupport
import CollectivesTransport
import CollectivesVerification
import Testing

/// All-reduce over in-process transports: every world size from 1 to 8, counts
/// {0, 1, 3, n−1, 1000, 2^20+7}, every type and operation, against the sequential reference.
@Suite struct InProcessAllReduceTests {
    /// Past the default segments; smaller under ThreadSanitizer (`COLLECTIVES_TEST_SCALE=small`,
    /// scripts/tsan-check.sh), where every access costs ten times as much.
    static let largeCount = testScaleIsSmall ? 70_001 : (1 << 20) + 7

    @Test(arguments: 1...8)
    func everyTypeOpAndCount(worldSize: Int) throws {
        let counts = [0, 1, 3, worldSize - 1, 1000, Self.largeCount]
        // Small segments so that even 1000 elements are pipelined over several segments; the
        // default segments for the large count.
        var small = CommunicatorOptions()
        small.ringSegmentBytes = 256
        small.timeoutSeconds = 60
        var large = CommunicatorOptions()
        large.timeoutSeconds = 60
        let smallSegments = InProcessTransport.makeGroup(worldSize: worldSize).map { Communicator(transport: $0, options: small) }
        let largeSegments = InProcessTransport.makeGroup(worldSize: worldSize).map { Communicator(transport: $0, options: large) }
        defer { for c in smallSegments + largeSegments { c.close() } }
        for count in counts {
            let communicators = count > 1000 ? largeSegments : smallSegments
            for dataType in DataType.allCases {
                for op in ReduceOperation.allCases where op.applies(to: dataType) {
                    let failures = try check(ElementTypes.type(of: dataType), communicators, count: count, op: op)
                    #expect(failures.isEmpty, "\(worldSize) ranks, \(count) × \(dataType), \(op): \(failures)")
                }
            }
        }
    }

    /// Runs one all-reduce on every rank; checks rank 0 against the reference and every other
    /// rank bit for bit against rank 0.
    func check<T: CheckableElement>(_: T.Type, _ communicators: [Communicator], count: Int, op: ReduceOperation) throws -> [String] {
        let n = communicators.count
        let outputs = runRanks(n) { rank -> [T] in
            var values = [T](repeating: .zero, count: count)
            values.withUnsafeMutableBufferPointer { ReferencePattern.fill($0, rank: rank, op: op) }
            try communicators[rank].allReduce(&values, op: op)
            return values
        }
        var failures: [String] = []
        var results: [[T]] = []
        for (rank, output) in outputs.enumerated() {
            switch output {
            case .success(let values): results.append(values)
            case .failure(let error): failures.append("rank \(rank): \(error)")
            }
        }
        guard failures.isEmpty else { return failures }
        let wrong = results[0].withUnsafeBufferPointer { ReferencePattern.countWrong($0, worldSize: n, op: op) }
        if wrong > 0 { failures.append("rank 0: \(wrong) wrong elements") }
        for rank in 1..<n {
            let same = results[rank].withUnsafeBytes { a in results[0].withUnsafeBytes { b in a.elementsEqual(b) } }
            if !same { failures.append("rank \(rank) differs from rank 0") }
        }
        return failures
    }

    @Test func asyncFormMatchesTheReference() async throws {
        let n = 3
        let group = InProcessTransport.makeGroup(worldSize: n)
        let communicators = group.map { Communicator(transport: $0) }
        defer { for c in communicators { c.close() } }
        let results = try await withThrowingTaskGroup(of: (Int, [Double]).self) { tasks in
            for rank in 0..<n {
                tasks.addTask {
                    var values = [Double](repeating: 0, count: 10_001)
                    values.withUnsafeMutableBufferPointer { ReferencePattern.fill($0, rank: rank, op: .sum) }
                    try await communicators[rank].allReduce(&values, op: .sum)
                    // Several in a row keep their order.
                    var second = [Int32](repeating: Int32(rank), count: 5)
                    try await communicators[rank].allReduce(&second, op: .max)
                    #expect(second == [Int32](repeating: Int32(n - 1), count: 5))
                    return (rank, values)
                }
            }
            var collected: [(Int, [Double])] = []
            for try await result in tasks { collected.append(result) }
            return collected
        }
        for (_, values) in results {
            #expect(values.withUnsafeBufferPointer { ReferencePattern.countWrong($0, worldSize: n, op: .sum) } == 0)
        }
    }

    @Test func mismatchedCountsFailInsteadOfHanging() throws {
        var options = CommunicatorOptions()
        options.timeoutSeconds = 10
        let group = InProcessTransport.makeGroup(worldSize: 2)
        let communicators = group.map { Communicator(transport: $0, options: options) }
        defer { for c in communicators { c.close() } }
        let outcomes = runRanks(2) { rank in
            var values = [Float](repeating: 1, count: rank == 0 ? 100 : 102)
            try communicators[rank].allReduce(&values)
        }
        for outcome in outcomes {
            #expect(throws: CollectivesError.self) { try outcome.get() }
        }
        if case .failure(let error as CollectivesError) = outcomes[0] {
            #expect(error.kind == .mismatch)
            #expect(error.description.contains("all-reduce #1"))
        }
    }
}
