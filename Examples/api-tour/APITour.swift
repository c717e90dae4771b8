// A program that uses the library the way an application does, through `import Collectives`
// only: run it with `collectives-run -n 3 -- .build/release/api-tour [store-directory]`.
// Every rank checks what it got and says so; any difference exits with status 1.
import Collectives

#if canImport(Glibc)
import Glibc
#endif

struct Settings: Codable, Sendable, Equatable {
    var learningRate: Double
    var layers: [Int]
    var name: String
}

/// The in-place collectives on storage other than arrays.
func contiguousForms(_ c: Communicator) throws -> Bool {
    let n = c.worldSize
    var contiguous = ContiguousArray<Int32>(repeating: Int32(c.rank + 1), count: 7)
    try c.allReduce(&contiguous, op: .sum)
    var whole = [Double](repeating: Double(c.rank), count: 10)
    var middle = whole[3..<6]
    try c.broadcast(&middle, root: n - 1)
    whole.replaceSubrange(3..<6, with: middle)
    var values = [UInt64](repeating: UInt64(1) << UInt64(c.rank), count: 5)
    var span = values.mutableSpan
    try c.allReduce(&span, op: .bitwiseOr)
    return contiguous.allSatisfy { $0 == Int32(n * (n + 1) / 2) }
        && whole[3..<6].allSatisfy { $0 == Double(n - 1) } && whole[0] == Double(c.rank)
        && values.allSatisfy { $0 == (UInt64(1) << UInt64(n)) - 1 }
}

/// Three buffers all-reduced as one transfer, then compared with the sums every rank knows.
func fusedGroup(_ c: Communicator) throws -> Bool {
    let n = c.worldSize
    let weights = UnsafeMutableBufferPointer<Float>.allocate(capacity: 5), bias = UnsafeMutableBufferPointer<Float>.allocate(capacity: 1)
    let steps = UnsafeMutableBufferPointer<Int32>.allocate(capacity: 2)
    defer { weights.deallocate(); bias.deallocate(); steps.deallocate() }
    weights.initialize(repeating: 2)
    bias.initialize(repeating: Float(c.rank))
    steps.initialize(repeating: Int32(c.rank))
    try c.group { group in
        group.allReduce(weights, op: .average)
        group.allReduce(bias, op: .sum)
        group.allReduce(steps, op: .max)
    }
    return weights.allSatisfy { $0 == 2 } && bias[0] == Float(n * (n - 1) / 2) && steps.allSatisfy { $0 == Int32(n - 1) }
}

@main
struct APITour {
    static func main() async throws {
        let c = try Communicator.fromEnvironment()
        defer { c.close() }
        let n = c.worldSize, rank = c.rank
        var problems: [String] = []
        func expect(_ condition: Bool, _ what: String) { if !condition { problems.append(what) } }

        // New element types and operations.
        var gradients = (0..<1001).map { BFloat16(Float(rank + $0 % 7)) }
        try await c.allReduce(&gradients, op: .sum)
        expect(gradients.indices.allSatisfy { Float(gradients[$0]) == Float(n * ($0 % 7) + n * (n - 1) / 2) }, "bfloat16 sum")
        var flags = [UInt8(1 << rank), 0]
        try await c.allReduce(&flags, op: .bitwiseOr)
        expect(flags == [UInt8((1 << n) - 1), 0], "uint8 bitwise or")
        var ready = [rank != 1, true]
        try await c.allReduce(&ready, op: .min)
        expect(ready == [n < 2, true], "bool and")

        // Variable-size collectives: rank r contributes r elements.
        let mine = [Int64](repeating: Int64(rank), count: rank)
        let everyone = try await c.allGatherVariable(mine)
        expect(everyone == (0..<n).map { [Int64](repeating: Int64($0), count: $0) }, "variable all-gather")
        let outgoing = (0..<n).map { [UInt32](repeating: UInt32(rank * 10 + $0), count: ($0 + rank) % 3) }
        let incoming = try await c.allToAllVariable(outgoing)
        expect(incoming == (0..<n).map { [UInt32](repeating: UInt32($0 * 10 + rank), count: ($0 + rank) % 3) }, "variable all-to-all")

        // Object collectives.
        let chosen = Settings(learningRate: 0.05, layers: [784, 256, 10], name: "tour \"\(n)\"")
        let settings = try await c.broadcast(object: rank == 0 ? chosen : Settings(learningRate: 0, layers: [], name: ""), root: 0)
        expect(settings == chosen, "object broadcast")
        let names = try await c.allGather(object: "rank \(rank)")
        expect(names == (0..<n).map { "rank \($0)" }, "object all-gather")

        // A reduction of our own, not commutative: every rank gets the rank-order fold.
        var digits = [Int64(rank + 1)]
        try await c.allReduce(&digits) { (a: inout Int64, b: Int64) in a = a * 10 + b }
        expect(digits == [(1...n).reduce(0) { $0 * 10 + Int64($1) }], "custom reduction")

        // Non-blocking all-reduces, awaited together.
        let a = UnsafeMutableBufferPointer<Float>.allocate(capacity: 100), b = UnsafeMutableBufferPointer<Double>.allocate(capacity: 3)
        defer { a.deallocate(); b.deallocate() }
        a.initialize(repeating: 1)
        b.initialize(repeating: Double(rank))
        try await CollectiveRequest.waitAll([c.startAllReduce(a, op: .sum), c.startAllReduce(b, op: .max)])
        expect(a.allSatisfy { $0 == Float(n) } && b.allSatisfy { $0 == Double(n - 1) }, "waitAll")

        // Other contiguous storage: ContiguousArray, ArraySlice, MutableSpan.
        expect(try contiguousForms(c), "ContiguousArray, ArraySlice and MutableSpan")

        // Small buffers fused into one transfer per type and operation (blocking form, from a
        // synchronous function).
        expect(try fusedGroup(c), "fused group")

        // A second communicator for the same ranks, met through a FileStore.
        if CommandLine.arguments.count > 1 {
            let store = try FileStore(directory: CommandLine.arguments[1])
            let second = try Communicator(store: store, rank: rank, worldSize: n)
            defer { second.close() }
            var one = [Int32(1)]
            try await second.allReduce(&one)
            expect(one == [Int32(n)], "file-store communicator")
        }

        print("rank \(rank): " + (problems.isEmpty ? "api tour ok" : "api tour FAILED: \(problems.joined(separator: ", "))"))
        if !problems.isEmpty { exit(1) }
    }
}
