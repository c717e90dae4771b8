import Collectives
import CollectivesTestSupport
import CollectivesTransport
import CollectivesVerification

/// One check of a batch: a collective with its arguments.
struct CheckCase: Sendable, CustomStringConvertible {
    var collective: CollectiveName
    var dataType: DataType
    var count: Int
    var op: ReduceOperation = .sum
    var algorithm: Algorithm?
    var inPlace = true

    var description: String {
        "\(collective) \(count) × \(dataType) \(op)\(algorithm.map { " \($0)" } ?? "")\(inPlace ? "" : " out-of-place")"
    }
}

/// In-process communicators of `worldSize` ranks with small pipeline segments, so that even
/// short buffers are cut into several.
func inProcessCommunicators(_ worldSize: Int, segmentBytes: Int = 256, timeout: Double = 60) -> [Communicator] {
    var options = CommunicatorOptions()
    options.ringSegmentBytes = segmentBytes
    options.treeSegmentBytes = segmentBytes
    options.timeoutSeconds = timeout
    options.costModel = CostModel(latencySeconds: 20e-6, secondsPerByte: 1e-9, reduceSecondsPerByte: 1e-10)
    return InProcessTransport.makeGroup(worldSize: worldSize).map { Communicator(transport: $0, options: options) }
}

/// Runs every case on every rank (one thread per rank, the cases in order) and returns what
/// went wrong: wrong elements or errors, by rank and case. Stops a rank at its first error.
func runBatch(_ cases: [CheckCase], on communicators: [Communicator]) -> [String] {
    let outcomes = runRanks(communicators.count) { rank -> [String] in
        var problems: [String] = []
        for check in cases {
            do {
                let wrong = try CollectiveCheck.wrongElements(
                    check.collective, ElementTypes.type(of: check.dataType), count: check.count, op: check.op,
                    algorithm: check.algorithm, inPlace: check.inPlace, communicator: communicators[rank])
                if wrong > 0 { problems.append("rank \(rank): \(check): \(wrong) wrong") }
            } catch {
                problems.append("rank \(rank): \(check): \(error)")
                break
            }
        }
        return problems
    }
    return outcomes.flatMap { outcome in
        switch outcome {
        case .success(let problems): return problems
        case .failure(let error): return ["\(error)"]
        }
    }
}
