import ArgumentParser
import Collectives
import CollectivesSystem
import CollectivesVerification
import CommandLineSupport

/// An nccl-tests-style collective benchmark, run under a launcher:
/// `collectives-run -n 4 collectives-bench all-reduce -b 8 -e 64M -f 2`.
@main
struct Bench: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "collectives-bench",
        abstract: "Measure a collective's time, algorithm bandwidth and bus bandwidth over a range of sizes, nccl-tests style.",
        discussion: """
        Run it under collectives-run, torchrun, srun or mpirun: it takes its rank from the \
        environment, and its transport from COLLECTIVES_TRANSPORT. Times are the largest over ranks \
        of each rank's mean. busbw = algbw × 2(n−1)/n for all-reduce, × (n−1)/n for all-gather, \
        reduce-scatter and all-to-all, × 1 for broadcast and reduce. Sizes are the larger buffer's \
        (nccl-tests' convention) and are rounded down to whole elements, and to whole blocks for \
        the collectives that cut the buffer into one block per rank.
        """,
        version: collectivesVersion)

    @Argument(help: "The collective: \(BenchCollective.allCases.map(\.rawValue).joined(separator: ", ")).")
    var collective: BenchCollective = .allReduce

    @Option(name: .customShort("b"), help: "Smallest size in bytes (K, M, G suffixes).")
    var minBytes: ByteSize = ByteSize(8)

    @Option(name: .customShort("e"), help: "Largest size in bytes (K, M, G suffixes).")
    var maxBytes: ByteSize = ByteSize(64 << 20)

    @Option(name: .customShort("f"), help: "Multiply the size by this factor at each step (default 2).")
    var stepFactor: Int?

    @Option(name: .customShort("i"), help: "Add this many bytes at each step instead of multiplying (K, M, G suffixes).")
    var stepBytes: ByteSize?

    @Option(name: .customShort("n"), help: "Timed iterations per size.")
    var iterations: Int = 20

    @Option(name: .customShort("w"), help: "Warm-up iterations per size.")
    var warmup: Int = 5

    @Option(name: .customShort("c"), help: "1: check every result against a sequential reference and count wrong elements.")
    var check: Int = 1

    @Option(name: .customShort("o"), help: "Operation: sum, prod, min, max, avg, bitwiseAnd, bitwiseOr, bitwiseXor (integers), or all: every one that applies to the type.")
    var operations: OperationChoice = OperationChoice(argument: "sum")!

    @Option(name: .customShort("d"), help: "Type, as nccl-tests names them: float, half, bfloat16, double, int8, uint8, int32 (int), uint32, int64, uint64; or float32, float16, float64, bool; or all.")
    var types: TypeChoice = TypeChoice(argument: "float")!

    @Option(name: .customShort("r"), help: "Root of broadcast, reduce, gather and scatter.")
    var root: Int = 0

    @Option(name: .customShort("a"), help: "Time reported: 0 rank 0's, 1 the average over ranks (default, as nccl-tests), 2 the minimum, 3 the maximum.")
    var average: Int = 1

    @Option(help: "All-reduce algorithm: ring, tree, recursive-doubling, central or auto (default: COLLECTIVES_ALGORITHM, else auto).")
    var algorithm: Algorithm?

    @Flag(help: "First measure latency and bandwidth between ring neighbours, and report busbw as a fraction of that link rate.")
    var probe = false

    @Flag(name: .customLong("sweep-algorithms"), help: "All-reduce with ring, tree, recursive doubling, Rabenseifner's, one-shot, the central server and auto side by side.")
    var sweepAlgorithms = false

    @Option(help: "Write a chart of busbw against size (SVG) to this file.")
    var plot: String?

    @Option(help: "Write the results as JSON to this file.")
    var json: String?

    @Option(help: "Write the results as CSV to this file.")
    var csv: String?

    @Option(name: .customLong("corrupt-rank"), help: ArgumentHelp("Corrupt one result element on this rank before checking (tests -c).", visibility: .hidden))
    var corruptRank: Int?

    mutating func validate() throws {
        guard minBytes.bytes >= 0, maxBytes.bytes >= minBytes.bytes else { throw ValidationError("-e must be at least -b") }
        guard stepFactor == nil || stepBytes == nil else { throw ValidationError("give -f (multiply) or -i (add), not both") }
        guard factor >= 2 else { throw ValidationError("-f must be at least 2") }
        if let stepBytes, stepBytes.bytes < 1 { throw ValidationError("-i must be at least 1 byte") }
        guard (0...3).contains(average) else { throw ValidationError("-a takes 0 (rank 0), 1 (average), 2 (minimum) or 3 (maximum)") }
        guard root >= 0 else { throw ValidationError("-r must be a rank (0 or more)") }
        if root != 0 && !collective.isRooted { throw ValidationError("-r applies to broadcast, reduce, gather and scatter") }
        guard iterations >= 1, warmup >= 0 else { throw ValidationError("-n must be at least 1 and -w at least 0") }
        guard check == 0 || check == 1 else { throw ValidationError("-c takes 0 or 1") }
        if sweepAlgorithms && collective != .allReduce { throw ValidationError("--sweep-algorithms compares all-reduce algorithms; drop the collective or choose all-reduce") }
        if algorithm != nil && collective != .allReduce { throw ValidationError("--algorithm applies to all-reduce only") }
        if sweepAlgorithms && algorithm != nil { throw ValidationError("--sweep-algorithms runs every algorithm; drop --algorithm") }
        if let corruptRank, check != 1 || corruptRank < 0 { throw ValidationError("--corrupt-rank needs -c 1 and a rank") }
    }

    /// The step factor: -f, or 2.
    var factor: Int { stepFactor ?? 2 }

    func run() throws {
        let communicator = try Communicator.forCommand("collectives-bench")
        defer { communicator.close() }
        var session = BenchSession(options: self, communicator: communicator)
        try session.run()
        if session.wrongTotal > 0 { throw ExitCode(1) }
    }
}

/// One run of the benchmark on one communicator.
struct BenchSession {
    let options: Bench
    let communicator: Communicator
    var rows: [ResultRow] = []
    var wrongTotal = 0
    var probe: LinkProbe?
    private var progressShown = false

    init(options: Bench, communicator: Communicator) {
        self.options = options
        self.communicator = communicator
    }

    var leader: Bool { communicator.rank == 0 }
    var n: Int { communicator.worldSize }
    /// The type and operation being measured now (`-d all` and `-o all` go through several).
    var type: DataType = .float32
    var op: ReduceOperation = .sum

    /// The sizes to measure, in elements of the larger buffer.
    func counts(of type: DataType) -> [Int] {
        let element = type.size
        let multiple = options.collective.isBlocked ? n : 1
        var result: [Int] = []
        var size = Swift.max(options.minBytes.bytes, element)
        while size <= options.maxBytes.bytes {
            let count = Swift.max(size / element / multiple * multiple, multiple)
            if result.last != count { result.append(count) }
            if let step = options.stepBytes?.bytes {
                size += step
            } else {
                if size > options.maxBytes.bytes / options.factor { break }
                size *= options.factor
            }
        }
        return result
    }

    /// The operations to measure on `type`: those asked for that apply to it (none matters for
    /// collectives that do not reduce: one pass, shown as `none`).
    func operations(on type: DataType) -> [ReduceOperation] {
        options.collective.reduces ? options.operations.list.filter { $0.applies(to: type) } : [.sum]
    }

    /// Every (type, operation) pair to measure, in order.
    func combinations() throws -> [(DataType, ReduceOperation)] {
        let pairs = options.types.list.flatMap { type in operations(on: type).map { (type, $0) } }
        guard !pairs.isEmpty else {
            throw ValidationError("-o \(options.operations) applies to none of the types \(options.types)")
        }
        return pairs
    }

    mutating func run() throws {
        let pairs = try combinations()
        guard options.root < n else { throw ValidationError("-r \(options.root): the job has \(n) ranks") }
        let algorithmName = options.algorithm?.rawValue ?? communicator.options.algorithm.rawValue
        try printHeader(algorithmName: algorithmName)
        // One buffer of each kind, for the largest size of any type, reused at every size.
        let largest = pairs.map { ($0.0, counts(of: $0.0).max() ?? 1) }.map { $0.1 * $0.0.size }.max() ?? 64
        let send = UnsafeMutableRawPointer.allocate(byteCount: Swift.max(largest, 64), alignment: 64)
        let receive = UnsafeMutableRawPointer.allocate(byteCount: Swift.max(largest, 64), alignment: 64)
        defer { send.deallocate(); receive.deallocate() }
        send.initializeMemory(as: UInt8.self, repeating: 0, count: Swift.max(largest, 64))
        receive.initializeMemory(as: UInt8.self, repeating: 0, count: Swift.max(largest, 64))

        if options.sweepAlgorithms {
            for (type, op) in pairs {
                (self.type, self.op) = (type, op)
                try sweep(counts(of: type), send: send, receive: receive)
            }
        } else {
            if leader { BenchReport.tableHeader(probe: probe != nil).forEach(Console.say) }
            for (type, op) in pairs {
                (self.type, self.op) = (type, op)
                try measureRows(algorithmName: algorithmName, send: send, receive: receive)
            }
            if leader {
                let bus = rows.flatMap { [$0.outOfPlace?.busbw, $0.inPlace?.busbw].compactMap { $0 } }
                Console.say("# Out of bounds values : \(wrongTotal) \(wrongTotal == 0 ? "OK" : "FAILED")")
                Console.say("# Avg bus bandwidth    : \(fixed(bus.isEmpty ? 0 : bus.reduce(0, +) / Double(bus.count), 4))")
            }
        }
        if leader { try writeOutputs() }
    }

    /// The lines before the table: what runs, how it is timed, and where every rank is.
    mutating func printHeader(algorithmName: String) throws {
        let aggregate = ["rank 0's", "the average over ranks", "the minimum over ranks", "the maximum over ranks"][options.average]
        if leader {
            Console.say("# collectives-bench \(options.collective.rawValue): \(n) ranks, transport \(communicator.transportName), type \(options.types), op \(options.operations)"
                        + (options.collective == .allReduce && !options.sweepAlgorithms ? ", algorithm \(algorithmName)" : ""))
            Console.say("# iterations \(options.iterations), warm-up \(options.warmup), check \(options.check == 1 ? "on" : "off"), time: \(aggregate) (-a \(options.average))")
            Console.say("#")
            Console.say("# Using ranks")
        }
        let here = RankPlace.ofThisProcess()
        let places = try communicator.gather(object: here, root: 0)
        if leader {
            for (rank, place) in places.enumerated() {
                Console.say("#  Rank \(pad(String(rank), 3)) Pid \(pad(String(place.pid), 7)) on \(place.host) transport \(communicator.transportName)")
            }
        }
        if options.probe {
            showProgress("probing the links between ring neighbours")
            let measured = try LinkProbe.measure(communicator)
            probe = measured
            clearProgress()
            if leader {
                Console.say("# probe: ring-neighbour latency \(fixed(measured.latencySeconds * 1e6, 1)) us (8 B), bandwidth \(fixed(measured.bytesPerSecond / 1e9, 3)) GB/s (\(measured.largeBytes >> 20) MiB), slowest link")
            }
        }
        if leader { Console.say("#") }
    }

    /// One table row per size for the current type and operation.
    mutating func measureRows(algorithmName: String, send: UnsafeMutableRawPointer, receive: UnsafeMutableRawPointer) throws {
        let counts = self.counts(of: type)
        let collective = options.collective
        for (index, count) in counts.enumerated() {
            showProgress("\(collective.rawValue) \(type) \(count * type.size) B (\(index + 1)/\(counts.count))")
            let outOfPlace = try measure(count: count, inPlace: false, algorithm: options.algorithm, send: send, receive: receive)
            let inPlace = collective.hasInPlaceForm
                ? try measure(count: count, inPlace: true, algorithm: options.algorithm, send: send, receive: receive) : nil
            let row = ResultRow(collective: collective.rawValue, algorithm: algorithmName, bytes: count * type.size,
                                count: count, type: type.rawValue, op: collective.reduces ? op.rawValue : "none",
                                root: collective.isRooted ? options.root : -1, outOfPlace: outOfPlace, inPlace: inPlace)
            rows.append(row)
            clearProgress()
            if leader { Console.say(BenchReport.tableRow(row, linkBytesPerSecond: probe?.bytesPerSecond)) }
        }
    }

    /// All-reduce with every algorithm at every size, side by side.
    mutating func sweep(_ counts: [Int], send: UnsafeMutableRawPointer, receive: UnsafeMutableRawPointer) throws {
        let algorithms: [Algorithm] = [.ring, .tree, .recursiveDoubling, .rabenseifner, .oneShot, .central, .auto]
        if leader {
            Console.say("# in-place all-reduce; time (us) and busbw (GB/s) per algorithm; auto/best = auto's time over the best forced one's")
            Console.say("# cost model: \(try communicator.automaticChoiceModel())")
            Console.say("#" + pad("size", 12) + algorithms.map { pad($0 == .recursiveDoubling ? "rec-doubling" : $0.rawValue, 20) }.joined()
                        + pad("auto chose", 20) + pad("best", 20) + pad("auto/best", 10) + pad("#wrong", 7))
        } else {
            _ = try communicator.automaticChoiceModel()
        }
        for (index, count) in counts.enumerated() {
            showProgress("all-reduce \(count * type.size) B, every algorithm (\(index + 1)/\(counts.count))")
            var cells = ""
            var times: [Algorithm: Double] = [:]
            var wrong = 0
            for algorithm in algorithms {
                let m = try measure(count: count, inPlace: true, algorithm: algorithm, send: send, receive: receive)
                times[algorithm] = m.seconds
                wrong += m.wrong ?? 0
                cells += pad(fixed(m.seconds * 1e6, 1), 11) + pad(fixed(m.busbw, 3), 9)
                rows.append(ResultRow(collective: "all-reduce", algorithm: algorithm.rawValue, bytes: count * type.size, count: count,
                                      type: type.rawValue, op: op.rawValue, root: -1, outOfPlace: nil, inPlace: m))
            }
            let forced = algorithms.filter { $0 != .auto && $0 != .central }
            let best = forced.min { times[$0]! < times[$1]! }!
            let chosen = try communicator.allReduceAlgorithm(forBytes: count * type.size, algorithm: .auto)
            clearProgress()
            if leader {
                Console.say(" " + pad(String(count * type.size), 12) + cells + pad(chosen.rawValue, 20) + pad(best.rawValue, 20)
                            + pad(fixed(times[.auto]! / times[best]!, 2), 10) + pad(options.check == 1 ? String(wrong) : "N/A", 7))
            }
        }
        if leader {
            Console.say("# Out of bounds values : \(wrongTotal) \(wrongTotal == 0 ? "OK" : "FAILED")")
        }
    }

    /// Times one collective at one size (each rank's mean, combined over ranks as `-a` says),
    /// then checks it.
    mutating func measure(count: Int, inPlace: Bool, algorithm: Algorithm?, send: UnsafeMutableRawPointer,
                          receive: UnsafeMutableRawPointer) throws -> Measurement {
        let collective = options.collective, op = self.op, root = options.root
        let elementType = ElementTypes.type(of: type)
        func once() throws {
            try collective.run(elementType, send: send, receive: receive, count: count, inPlace: inPlace, op: op, root: root,
                               algorithm: algorithm, communicator: communicator)
        }
        for _ in 0..<options.warmup { try once() }
        try communicator.barrier()
        let start = MonotonicClock.nanoseconds
        for _ in 0..<options.iterations { try once() }
        let mean = MonotonicClock.seconds(since: start) / Double(options.iterations)
        let seconds = try combinedOverRanks(mean)
        var wrong: Int?
        if options.check == 1 {
            let mine = try collective.check(elementType, send: send, receive: receive, count: count, inPlace: inPlace, op: op, root: root,
                                            algorithm: algorithm, communicator: communicator,
                                            corrupt: options.corruptRank == communicator.rank)
            var total = [Int64(mine)]
            try communicator.allReduce(&total, op: .sum)
            wrong = Int(total[0])
            wrongTotal += Int(total[0])
        }
        let algbw = Double(count * type.size) / seconds / 1e9
        return Measurement(seconds: seconds, algbw: algbw, busbw: algbw * collective.busFactor(worldSize: n), wrong: wrong)
    }

    /// Every rank's `seconds` combined as `-a` says: rank 0's, the average, the minimum or the
    /// maximum.
    func combinedOverRanks(_ seconds: Double) throws -> Double {
        switch options.average {
        case 0:
            var value = [communicator.rank == 0 ? seconds : 0]
            try communicator.broadcast(&value, root: 0)
            return value[0]
        case 2:
            var value = [seconds]
            try communicator.allReduce(&value, op: .min)
            return value[0]
        case 3:
            var value = [seconds]
            try communicator.allReduce(&value, op: .max)
            return value[0]
        default:
            var value = [seconds]
            try communicator.allReduce(&value, op: .sum)
            return value[0] / Double(n)
        }
    }

    func writeOutputs() throws {
        let context = [("collective", options.collective.rawValue), ("ranks", String(n)), ("transport", communicator.transportName),
                       ("type", options.types.description), ("redop", options.operations.description), ("time", ["rank0", "average", "min", "max"][options.average]),
                       ("iterations", String(options.iterations)), ("warmup", String(options.warmup))]
        if let path = options.csv {
            try writeTextFile(path, ([BenchReport.csvHeader] + rows.flatMap(BenchReport.csvLines)).joined(separator: "\n") + "\n")
        }
        if let path = options.json {
            try writeTextFile(path, try BenchReport.json(rows, context: context, probe: probe))
        }
        if let path = options.plot {
            var series: [SVGChart.Series] = []
            if options.sweepAlgorithms {
                for name in Set(rows.map(\.algorithm)).sorted() {
                    series.append(.init(name: name, points: rows.filter { $0.algorithm == name }.compactMap { row in
                        row.inPlace.map { (Double(row.bytes), $0.busbw) }
                    }))
                }
            } else {
                series.append(.init(name: "out-of-place", points: rows.compactMap { r in r.outOfPlace.map { (Double(r.bytes), $0.busbw) } }))
                series.append(.init(name: "in-place", points: rows.compactMap { r in r.inPlace.map { (Double(r.bytes), $0.busbw) } }))
            }
            if let probe {
                let sizes = rows.map { Double($0.bytes) }
                if let low = sizes.min(), let high = sizes.max() {
                    series.append(.init(name: "link (probe)", points: [(low, probe.bytesPerSecond / 1e9), (high, probe.bytesPerSecond / 1e9)]))
                }
            }
            let title = "\(options.collective.rawValue), \(n) ranks over \(communicator.transportName), \(options.types)"
            try writeTextFile(path, SVGChart(title: title, xLabel: "size (bytes)", yLabel: "busbw (GB/s)", series: series).render())
        }
    }

    /// A progress line on rank 0's terminal, redrawn in place.
    mutating func showProgress(_ text: String) {
        guard leader, Console.standardOutputIsTerminal else { return }
        Console.write("# running \(text)…" + String(repeating: " ", count: 8) + "\r")
        progressShown = true
    }

    mutating func clearProgress() {
        guard progressShown else { return }
        Console.write(String(repeating: " ", count: 100) + "\r")
        progressShown = false
    }
}
