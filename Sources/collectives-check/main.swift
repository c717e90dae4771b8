import ArgumentParser
import Collectives
import CollectivesVerification
import CommandLineSupport

/// Run under a launcher; every rank all-reduces deterministic inputs for each count, type and
/// operation and compares the result with a sequential reference. Exits non-zero on any
/// difference or error. The multi-process tests run it.
@main
struct Check: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "collectives-check",
        abstract: "All-reduce known inputs on every rank and check the results against a sequential reference.")

    @Option(name: .long, parsing: .upToNextOption, help: "Element counts to check (default: 0 1 3 n-1 1000 1048583).")
    var counts: [Int] = []

    @Option(name: .long, parsing: .upToNextOption, help: "Types: float16 float32 float64 int32 int64 (default: all).")
    var types: [String] = []

    @Option(name: .long, parsing: .upToNextOption, help: "Operations: sum product min max average (default: all).")
    var ops: [String] = []

    @Flag(name: .long, help: "Use the async API instead of the blocking one.")
    var async = false

    mutating func run() async throws {
        let communicator = try Communicator.forCommand("collectives-check")
        defer { communicator.close() }
        let n = communicator.worldSize
        let counts = self.counts.isEmpty ? [0, 1, 3, max(0, n - 1), 1000, (1 << 20) + 7] : self.counts
        let types = try self.types.isEmpty ? DataType.allCases : self.types.map { name in
            guard let type = DataType(rawValue: name) else { throw ValidationError("unknown type \(name)") }
            return type
        }
        let ops = try self.ops.isEmpty ? ReduceOperation.allCases : self.ops.map { name in
            guard let op = ReduceOperation(rawValue: name) else { throw ValidationError("unknown operation \(name)") }
            return op
        }
        var checks = 0, failures = 0
        for count in counts {
            for type in types {
                for op in ops {
                    let wrong = try await check(ElementTypes.type(of: type), count: count, op: op, communicator: communicator)
                    checks += 1
                    if wrong > 0 {
                        failures += 1
                        Console.say("rank \(communicator.rank): all-reduce of \(count) × \(type) with \(op): \(wrong) wrong elements")
                    }
                }
            }
        }
        Console.say("rank \(communicator.rank) of \(n): \(checks - failures) passed, \(failures) failed")
        if failures > 0 { throw ExitCode(1) }
    }

    func check<T: CollectiveElement & Numeric>(_: T.Type, count: Int, op: ReduceOperation, communicator: Communicator) async throws -> Int {
        var values = [T](repeating: .zero, count: count)
        values.withUnsafeMutableBufferPointer { ReferencePattern.fill($0, rank: communicator.rank, op: op) }
        if async {
            try await communicator.allReduce(&values, op: op)
        } else {
            try blockingAllReduce(&values, op: op, communicator: communicator)
        }
        return values.withUnsafeBufferPointer { ReferencePattern.countWrong($0, worldSize: communicator.worldSize, op: op) }
    }

    /// A synchronous context, where the blocking overload is the one chosen.
    func blockingAllReduce<T: CollectiveElement>(_ values: inout [T], op: ReduceOperation, communicator: Communicator) throws {
        try communicator.allReduce(&values, op: op)
    }
}

#if canImport(Glibc)
import Glibc
#endif
