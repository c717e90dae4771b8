import ArgumentParser
import Collectives
import CollectivesRendezvous
import CollectivesSystem
import CollectivesVerification
import CommandLineSupport


/// Run under a launcher; every rank runs collectives on deterministic inputs for each count,
/// type and operation and compares its results with a sequential reference. Exits non-zero on
/// any difference or error. The multi-process tests run it.
@main
struct Check: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "collectives-check",
        abstract: "Run collectives on known inputs on every rank and check the results against a sequential reference.",
        version: collectivesVersion)

    @Option(name: .long, parsing: .upToNextOption, help: "Element counts to check (default: 0 1 3 n-1 1000 1048583).")
    var counts: [Int] = []

    @Option(name: .long, parsing: .upToNextOption, help: "Types: \(DataType.allCases.map(\.rawValue).joined(separator: " ")) (default: all).")
    var types: [String] = []

    @Option(name: .long, parsing: .upToNextOption, help: "Operations: \(ReduceOperation.allCases.map(\.rawValue).joined(separator: " ")) (default: every one that applies to each type).")
    var ops: [String] = []

    @Option(name: .long, parsing: .upToNextOption,
            help: "Collectives: \(CollectiveName.allCases.map(\.rawValue).joined(separator: " ")), or all (default: all-reduce).")
    var collectives: [String] = []

    @Option(name: .long, parsing: .upToNextOption,
            help: "All-reduce algorithms to force in turn: \(Algorithm.allCases.map(\.rawValue).joined(separator: " ")) (default: the communicator's).")
    var algorithms: [String] = []

    @Flag(name: .long, help: "Check the out-of-place forms too.")
    var outOfPlace = false

    @Flag(name: .long, help: "Use the async all-reduce instead of the blocking one.")
    var async = false

    @Flag(name: .long, help: "Instead of the collectives above: the variable-size collectives, the async and start… forms of every collective and fused groups (every type and count), all-reduce with the caller's reductions, and the object collectives (every count).")
    var extended = false

    @Option(name: .long, help: "Find the other ranks through a FileStore in this directory (with RANK and WORLD_SIZE from the environment) instead of the launcher's TCP store.")
    var fileStore: String?

    @Option(name: .long, help: ArgumentHelp("Make rank 1 call differently from the others (count, type, op, collective, root, algorithm, one-shot-count, one-shot-collective, one-shot-algorithm, stall, late), to test mismatch detection and failure.", visibility: .hidden))
    var mismatch: String?

    @Flag(name: .long, help: ArgumentHelp("Print this process's peak resident memory at the end.", visibility: .hidden))
    var reportMemory = false

    @Option(name: .long, help: ArgumentHelp("After the checks, create <file>.waiting, wait (up to the timeout) until the file exists (%r: the rank), then meet at a barrier.", visibility: .hidden))
    var holdFile: String?

    @Option(name: .long, help: ArgumentHelp("Run this many two-rank create/use/close cycles in this process (no launcher) and compare its descriptors and threads before and after.", visibility: .hidden))
    var cycles: Int?

    @Option(name: .long, help: ArgumentHelp("The transport of --cycles: tcp or shm.", visibility: .hidden))
    var cycleTransport: String = "tcp"

    mutating func run() async throws {
        if let cycles {
            bootstrapLogging("collectives-check")
            guard let transport = TransportChoice(rawValue: cycleTransport) else { throw ValidationError("--cycle-transport takes tcp or shm") }
            try Cycles.run(cycles, transport: transport)
            return
        }
        let communicator: Communicator
        if let fileStore {
            communicator = try fileStoreCommunicator(fileStore)
        } else {
            communicator = try Communicator.forCommand("collectives-check")
        }
        defer { communicator.close() }
        let n = communicator.worldSize
        if mismatch == "late" {
            try arriveLate(communicator)
            return
        }
        if let mismatch {
            try callDifferently(mismatch, communicator)
            return
        }
        let counts = self.counts.isEmpty ? [0, 1, 3, max(0, n - 1), 1000, (1 << 20) + 7] : self.counts
        let types = try parse(self.types, DataType.allCases, "type") { DataType(rawValue: $0) }
        let ops = try parse(self.ops, ReduceOperation.allCases, "operation") { ReduceOperation(rawValue: $0) }
        let collectives = self.collectives == ["all"] ? CollectiveName.allCases
            : try parse(self.collectives, [.allReduce], "collective") { CollectiveName(rawValue: $0) }
        let algorithms: [Algorithm?] = self.algorithms.isEmpty ? [nil]
            : try parse(self.algorithms, [], "algorithm") { Algorithm(name: $0) }
        var tally = Tally(rank: communicator.rank)
        if extended {
            try await checkExtended(counts: counts, types: types, communicator: communicator, into: &tally)
        } else {
            try await checkCollectives(collectives, algorithms: algorithms, counts: counts, types: types, ops: ops,
                                       communicator: communicator, into: &tally)
        }
        if let holdFile { try await hold(holdFile, communicator) }
        if reportMemory { Console.say("rank \(communicator.rank): resident memory now \(Cycles.statusMiB("VmRSS")) MiB, peak resident memory \(Cycles.statusMiB("VmHWM")) MiB") }
        Console.say("rank \(communicator.rank) of \(n): \(tally.checks - tally.failures) passed, \(tally.failures) failed")
        if tally.failures > 0 { throw ExitCode(1) }
    }

    /// Checks run and failed, each failure said as it is found.
    struct Tally {
        let rank: Int
        var checks = 0, failures = 0

        mutating func note(_ wrong: Int, _ what: String, _ unit: String = "wrong results") {
            checks += 1
            if wrong > 0 {
                failures += 1
                Console.say("rank \(rank): \(what): \(wrong) \(unit)")
            }
        }
    }

    /// `--extended`: the variable-size, closure, object, async and grouped forms.
    func checkExtended(counts: [Int], types: [DataType], communicator: Communicator, into tally: inout Tally) async throws {
        for count in counts {
            for type in types {
                tally.note(try ExtendedCheck.variableCollectives(ElementTypes.type(of: type), count: count, communicator: communicator),
                           "variable-size collectives of \(count) × \(type)")
                tally.note(try ExtendedCheck.firstDifferent(ElementTypes.type(of: type), count: count, communicator: communicator),
                           "all-reduce of \(count) × \(type) with a non-commutative closure")
                tally.note(try await FormsCheck.asyncAndStartForms(ElementTypes.type(of: type), count: count, communicator: communicator),
                           "async and start… forms of \(count) × \(type)")
                tally.note(try FormsCheck.fusedGroup(ElementTypes.type(of: type), count: count, communicator: communicator),
                           "fused all-reduce group of \(count) × \(type)")
            }
            tally.note(try ExtendedCheck.arithmeticClosures(count: count, communicator: communicator), "all-reduce of \(count) elements with arithmetic closures")
            tally.note(try ExtendedCheck.objects(size: count, communicator: communicator), "object collectives of size \(count)")
        }
    }

    /// Every collective asked for, with every algorithm, count, type, operation and placement.
    func checkCollectives(_ collectives: [CollectiveName], algorithms: [Algorithm?], counts: [Int], types: [DataType],
                          ops: [ReduceOperation], communicator: Communicator, into tally: inout Tally) async throws {
        for collective in collectives {
            for algorithm in collective == .allReduce ? algorithms : [nil] {
                for count in counts {
                    for type in types {
                        for op in collective.reduces ? ops.filter({ $0.applies(to: type) }) : [.sum] {
                            for inPlace in outOfPlace ? [true, false] : [true] {
                                let wrong = try await check(collective, ElementTypes.type(of: type), count: count, op: op,
                                                            algorithm: algorithm, inPlace: inPlace, communicator: communicator)
                                tally.note(wrong, "\(collective)\(algorithm.map { " (\($0))" } ?? "") of \(count) × \(type) with \(op)",
                                           "wrong elements")
                            }
                        }
                    }
                }
            }
        }
    }

    /// `--hold-file`: says this rank is waiting (`<file>.waiting`, `%r` its rank), waits for
    /// the file to appear, then meets the others in a barrier.
    func hold(_ holdFile: String, _ communicator: Communicator) async throws {
        let path = holdFile.split(separator: "%r", omittingEmptySubsequences: false).joined(separator: String(communicator.rank))
        try FileSystem.touch(path + ".waiting")
        let deadline = Deadline.after(seconds: communicator.options.timeoutSeconds)
        while !FileSystem.exists(path) && !deadline.hasPassed { sleepSeconds(0.05) }
        let started = Deadline.now
        do {
            try await communicator.barrier()
        } catch {
            Console.say("rank \(communicator.rank): barrier failed after \(MonotonicClock.seconds(since: started.uptimeNanoseconds)) s: \(error)")
            throw ExitCode(1)
        }
    }

    /// Every rank all-reduces 1000 float32 with sum over the ring, or broadcasts from rank 0,
    /// except rank 1, which changes one thing. Each rank prints its error and fails.
    func callDifferently(_ what: String, _ communicator: Communicator) throws {
        let odd = communicator.rank == 1
        do {
            switch what {
            case "count":
                var values = [Float](repeating: 1, count: odd ? 1001 : 1000)
                try communicator.allReduce(&values, op: .sum, algorithm: .ring)
            case "type":
                if odd {
                    var values = [Double](repeating: 1, count: 1000)
                    try communicator.allReduce(&values, op: .sum, algorithm: .ring)
                } else {
                    var values = [Float](repeating: 1, count: 1000)
                    try communicator.allReduce(&values, op: .sum, algorithm: .ring)
                }
            case "op", "algorithm":
                var values = [Float](repeating: 1, count: 1000)
                try communicator.allReduce(&values, op: odd && what == "op" ? .max : .sum,
                                           algorithm: odd && what == "algorithm" ? .tree : .ring)
            case "collective":
                var values = [Float](repeating: 1, count: 1000)
                if odd { try communicator.broadcast(&values, root: 0) } else { try communicator.allReduce(&values, op: .sum, algorithm: .ring) }
            case "stall":
                // Rank 1 sits out the second all-reduce for longer than the timeout.
                var values = [Float](repeating: 1, count: 1000)
                try communicator.allReduce(&values, op: .sum, algorithm: .ring)
                if odd { sleepSeconds(communicator.options.timeoutSeconds * 3) }
                try communicator.allReduce(&values, op: .sum, algorithm: .ring)
            case "one-shot-count":
                // Both on the board, posts of different lengths.
                var values = [Float](repeating: 1, count: odd ? 11 : 10)
                try communicator.allReduce(&values, op: .sum, algorithm: .oneShot)
            case "one-shot-collective":
                // Rank 1 broadcasts (messages) where the others post on the board.
                var values = [Float](repeating: 1, count: 10)
                if odd { try communicator.broadcast(&values, root: 0) } else { try communicator.allReduce(&values, op: .sum, algorithm: .oneShot) }
            case "one-shot-algorithm":
                // Rank 1 runs the ring (messages) where the others post on the board.
                var values = [Float](repeating: 1, count: 10)
                try communicator.allReduce(&values, op: .sum, algorithm: odd ? .ring : .oneShot)
            case "root":
                // Different roots may all complete (sends to a root that posts no receive wait
                // in its queue); the stale message then fails the next collective that meets it.
                var values = [Float](repeating: 1, count: 1000)
                try communicator.broadcast(&values, root: odd ? 1 : 0)
                try communicator.allReduce(&values, op: .sum, algorithm: .ring)
            default:
                throw ValidationError("--mismatch takes count, type, op, collective, root, algorithm, one-shot-count, one-shot-collective, one-shot-algorithm or stall")
            }
        } catch let error as CollectivesError {
            Console.say("rank \(communicator.rank) failed: \(error)")
            if !error.missingRanks.isEmpty {
                Console.say("rank \(communicator.rank): the error's missing ranks: \(error.missingRanks), peer: \(error.peer.map(String.init) ?? "none")")
            }
            throw ExitCode(1)
        }
        Console.say("rank \(communicator.rank): no error")
    }

    /// Rank 1 reaches an all-reduce three timeouts late. Every rank's all-reduce must fail (the
    /// others time out; rank 1 finds them gone), then each frees its buffer and keeps its
    /// transport's progress engine moving (as a wait on other traffic would) while rank 1's data
    /// arrives, and calls `barrier()`, which must throw the same error at once. Exits 0 when all
    /// of that holds on this rank. Built with AddressSanitizer, a write into the freed buffer
    /// stops the process with a report.
    func arriveLate(_ communicator: Communicator) throws {
        let rank = communicator.rank, timeout = communicator.options.timeoutSeconds
        let buffer = UnsafeMutableBufferPointer<Float>.allocate(capacity: 100_003)
        buffer.initialize(repeating: Float(rank))
        if rank == 1 { sleepSeconds(timeout * 3) }
        let first: CollectivesError
        do {
            try communicator.allReduce(buffer, op: .sum, algorithm: .ring)
            buffer.deallocate()
            Console.say("rank \(rank): the all-reduce succeeded, though rank 1 came \(timeout * 3) s late")
            throw ExitCode(1)
        } catch let error as CollectivesError {
            first = error
        }
        buffer.deallocate()
        Console.say("rank \(rank): all-reduce failed: \(first)")
        if rank != 1 { keepProgressing(communicator, for: timeout * 3) }
        let start = Deadline.now
        do {
            try communicator.barrier()
            Console.say("rank \(rank): barrier succeeded after a failed all-reduce")
            throw ExitCode(1)
        } catch let error as CollectivesError {
            let milliseconds = Double(MonotonicClock.nanoseconds(since: start.uptimeNanoseconds)) / 1e6
            let same = error.description == first.description && error.kind == first.kind
            Console.say("rank \(rank): barrier failed in \(fixed(milliseconds, 2)) ms \(same ? "with the same error" : "with another error: \(error)")")
            if !same || milliseconds > 100 { throw ExitCode(1) }
        }
    }

    /// Runs `communicator`'s transport engine for `seconds`: whatever a peer sends meanwhile
    /// arrives and moves as far as the engine takes it.
    func keepProgressing(_ communicator: Communicator, for seconds: Double) {
        let deadline = Deadline.after(seconds: seconds)
        var passes = 0, moved = 0
        while !deadline.hasPassed {
            if communicator.transportProbe?.progressOnce() == true { moved += 1 }
            passes += 1
            if passes % 64 == 0 { sleepSeconds(0.0005) }
        }
        Console.say("rank \(communicator.rank): \(passes) progress passes after the failure, \(moved) moved data")
    }

    func parse<T>(_ names: [String], _ all: [T], _ what: String, _ make: (String) -> T?) throws -> [T] {
        guard !names.isEmpty else { return all }
        return try names.map { name in
            guard let value = make(name) else { throw ValidationError("unknown \(what) \(name)") }
            return value
        }
    }

    /// A communicator that finds its peers through a ``FileStore``.
    func fileStoreCommunicator(_ directory: String) throws -> Communicator {
        bootstrapLogging("collectives-check")
        let environment = ProcessEnvironment.current()
        guard let rank = environment["RANK"].flatMap({ Int($0) }), let world = environment["WORLD_SIZE"].flatMap({ Int($0) }) else {
            throw ValidationError("--file-store needs RANK and WORLD_SIZE in the environment")
        }
        var options = CommunicatorOptions()
        try options.applyTuning(from: environment)
        if let timeout = try LaunchConfiguration.timeoutSeconds(setIn: environment) { options.timeoutSeconds = timeout }
        do {
            return try Communicator(store: try FileStore(directory: directory), rank: rank, worldSize: world, options: options)
        } catch {
            Console.error("collectives-check: \(error)")
            throw ExitCode(2)
        }
    }

    func check<T: CheckableElement>(
        _ collective: CollectiveName, _ type: T.Type, count: Int, op: ReduceOperation, algorithm: Algorithm?, inPlace: Bool,
        communicator: Communicator
    ) async throws -> Int {
        guard async, collective == .allReduce else {
            return try blocking(collective, type, count: count, op: op, algorithm: algorithm, inPlace: inPlace, communicator: communicator)
        }
        var values = [T](repeating: .zero, count: count)
        values.withUnsafeMutableBufferPointer { ReferencePattern.fill($0, rank: communicator.rank, op: op) }
        try await communicator.allReduce(&values, op: op, algorithm: algorithm)
        var wrong = values.withUnsafeBufferPointer { ReferencePattern.countWrong($0, worldSize: communicator.worldSize, op: op) }
        // Two non-blocking all-reduces in flight, awaited together.
        let buffers = (0..<2).map { _ in UnsafeMutableBufferPointer<T>.allocate(capacity: count) }
        defer { buffers.forEach { $0.deallocate() } }
        for buffer in buffers { ReferencePattern.fill(buffer, rank: communicator.rank, op: op) }
        let requests = buffers.map { communicator.startAllReduce($0, op: op, algorithm: algorithm) }
        try await CollectiveRequest.waitAll(requests)
        for (buffer, request) in zip(buffers, requests) {
            wrong += ReferencePattern.countWrong(UnsafeBufferPointer(buffer), worldSize: communicator.worldSize, op: op)
            try await request.wait()  // a second wait returns the same outcome at once
        }
        return wrong
    }

    /// A synchronous context, where the blocking overloads are the ones chosen.
    func blocking<T: CheckableElement>(
        _ collective: CollectiveName, _ type: T.Type, count: Int, op: ReduceOperation, algorithm: Algorithm?, inPlace: Bool,
        communicator: Communicator
    ) throws -> Int {
        try CollectiveCheck.wrongElements(collective, type, count: count, op: op, algorithm: algorithm, inPlace: inPlace,
                                          communicator: communicator)
    }
}
