import ArgumentParser
import Collectives
import CollectivesSystem
import CollectivesVerification
import CommandLineSupport

/// An nccl-tests-style all-reduce benchmark, run under a launcher:
/// `collectives-run -n 4 collectives-bench -b 8 -e 64M -f 2`.
@main
struct Bench: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "collectives-bench",
        abstract: "Measure all-reduce time, algorithm bandwidth and bus bandwidth over a range of sizes, nccl-tests style.",
        discussion: """
        Run it under collectives-run, torchrun, srun or mpirun: it takes its rank from the \
        environment. Times are the largest over ranks of each rank's mean; busbw = algbw × 2(n−1)/n.
        """)

    @Option(name: .customShort("b"), help: "Smallest size in bytes (K, M, G suffixes).")
    var minBytes: ByteSize = ByteSize(8)

    @Option(name: .customShort("e"), help: "Largest size in bytes (K, M, G suffixes).")
    var maxBytes: ByteSize = ByteSize(64 << 20)

    @Option(name: .customShort("f"), help: "Multiply the size by this factor at each step.")
    var factor: Int = 2

    @Option(name: .customShort("n"), help: "Timed iterations per size.")
    var iterations: Int = 20

    @Option(name: .customShort("w"), help: "Warm-up iterations per size.")
    var warmup: Int = 5

    @Option(name: .customShort("c"), help: "1: check every result against a sequential reference and count wrong elements.")
    var check: Int = 1

    @Option(name: .customShort("o"), help: "Operation: sum, product, min, max, average.")
    var op: ReduceOperation = .sum

    @Option(name: .customShort("d"), help: "Type: float32, float64, float16, int32, int64.")
    var type: DataType = .float32

    mutating func validate() throws {
        guard minBytes.bytes >= 0, maxBytes.bytes >= minBytes.bytes else { throw ValidationError("-e must be at least -b") }
        guard factor >= 2 else { throw ValidationError("-f must be at least 2") }
        guard iterations >= 1, warmup >= 0 else { throw ValidationError("-n must be at least 1 and -w at least 0") }
        guard check == 0 || check == 1 else { throw ValidationError("-c takes 0 or 1") }
    }

    func run() throws {
        let communicator = try Communicator.forCommand("collectives-bench")
        defer { communicator.close() }
        let n = communicator.worldSize
        let leader = communicator.rank == 0
        if leader {
            Console.say("# collectives-bench all-reduce: \(n) ranks, transport \(communicator.transportName), type \(type), op \(op)")
            Console.say("# iterations \(iterations), warm-up \(warmup), check \(check == 1 ? "on" : "off")")
            Console.say("#")
            Console.say("#" + pad("size", 11) + pad("count", 13) + pad("type", 9) + pad("redop", 8)
                  + pad("time", 11) + pad("algbw", 9) + pad("busbw", 9) + pad("#wrong", 8))
            Console.say("#" + pad("(B)", 11) + pad("(elements)", 13) + pad("", 9) + pad("", 8)
                  + pad("(us)", 11) + pad("(GB/s)", 9) + pad("(GB/s)", 9) + pad("", 8))
        }
        var busTotal = 0.0, rows = 0, wrongTotal = 0
        let element = type.size
        var size = max(element, minBytes.bytes / element * element)
        let largest = maxBytes.bytes
        let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: max(largest, element), alignment: 64)
        defer { buffer.deallocate() }
        memset(buffer.baseAddress!, 0, buffer.count)
        while size <= largest {
            let count = size / element
            let region = UnsafeMutableRawBufferPointer(rebasing: buffer[0..<(count * element)])
            for _ in 0..<warmup { try communicator.allReduce(region, dataType: type, op: op) }
            let start = Deadline.now
            for _ in 0..<iterations { try communicator.allReduce(region, dataType: type, op: op) }
            let seconds = Double(Deadline.now.uptimeNanoseconds - start.uptimeNanoseconds) / 1e9 / Double(iterations)
            var slowest = [seconds]
            try communicator.allReduce(&slowest, op: .max)
            var wrong: [Int64] = [0]
            if check == 1 {
                wrong[0] = Int64(try checkOnce(communicator, region, count: count))
                try communicator.allReduce(&wrong, op: .sum)
            }
            let algbw = Double(size) / slowest[0] / 1e9
            let busbw = algbw * 2 * Double(n - 1) / Double(n)
            busTotal += busbw
            rows += 1
            wrongTotal += Int(wrong[0])
            if leader {
                Console.say(" " + pad(String(size), 11) + pad(String(count), 13) + pad(type.rawValue, 9) + pad(op.rawValue, 8)
                      + pad(fixed(slowest[0] * 1e6, 1), 11) + pad(fixed(algbw, 2), 9) + pad(fixed(busbw, 2), 9)
                      + pad(check == 1 ? String(wrong[0]) : "N/A", 8))
            }
            if size > largest / factor { break }
            size *= factor
        }
        if leader {
            Console.say("# Out of bounds values : \(wrongTotal) \(wrongTotal == 0 ? "OK" : "FAILED")")
            Console.say("# Avg bus bandwidth    : \(fixed(rows > 0 ? busTotal / Double(rows) : 0, 4))")
        }
        if wrongTotal > 0 { throw ExitCode(1) }
    }

    /// Fills the buffer with the reference inputs, all-reduces once, and counts wrong elements.
    func checkOnce(_ communicator: Communicator, _ region: UnsafeMutableRawBufferPointer, count: Int) throws -> Int {
        func typed<T: CollectiveElement & Numeric>(_: T.Type) throws -> Int {
            let typed = region.bindMemory(to: T.self)
            ReferencePattern.fill(typed, rank: communicator.rank, op: op)
            try communicator.allReduce(typed, op: op)
            return ReferencePattern.countWrong(UnsafeBufferPointer(typed), worldSize: communicator.worldSize, op: op)
        }
        return try typed(ElementTypes.type(of: type))
    }
}

/// A byte count written with an optional K, M or G suffix (powers of 1024).
struct ByteSize: ExpressibleByArgument {
    let bytes: Int

    init(_ bytes: Int) { self.bytes = bytes }

    init?(argument: String) {
        let text = argument.uppercased()
        let multipliers: [Character: Int] = ["K": 1 << 10, "M": 1 << 20, "G": 1 << 30]
        if let last = text.last, let multiplier = multipliers[last], let value = Int(text.dropLast()) {
            bytes = value * multiplier
        } else if let value = Int(text) {
            bytes = value
        } else {
            return nil
        }
    }
}

extension ReduceOperation: ExpressibleByArgument {}
extension DataType: ExpressibleByArgument {}

#if canImport(Glibc)
import Glibc
#endif
