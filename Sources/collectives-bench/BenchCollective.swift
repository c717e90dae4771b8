import Collectives
import CollectivesVerification

/// The collectives the benchmark measures, with nccl-tests' conventions for sizes and bus
/// bandwidth.
enum BenchCollective: String, CaseIterable {
    case allReduce = "all-reduce"
    case allGather = "all-gather"
    case reduceScatter = "reduce-scatter"
    case broadcast
    case reduce
    case allToAll = "all-to-all"
    case gather
    case scatter
    /// Each rank sends to the next and receives from the previous at once (nccl-tests' sendrecv).
    case sendReceive = "sendrecv"

    /// Also nccl-tests' names (`all_reduce`, `alltoall`, `sendrecv`, with or without `_perf`).
    init?(argument: String) {
        var plain = argument.lowercased()
        if plain.hasSuffix("_perf") { plain.removeLast("_perf".count) }
        plain = plain.filter { $0 != "-" && $0 != "_" }
        guard let match = Self.allCases.first(where: { $0.rawValue.filter { $0 != "-" } == plain }) else { return nil }
        self = match
    }

    var name: CollectiveName {
        switch self {
        case .allReduce: return .allReduce
        case .allGather: return .allGather
        case .reduceScatter: return .reduceScatter
        case .broadcast: return .broadcast
        case .reduce: return .reduce
        case .allToAll: return .allToAll
        case .gather: return .gather
        case .scatter: return .scatter
        case .sendReceive: return .sendReceive
        }
    }

    /// busbw = algbw × this factor: the fraction of the data that crosses the busiest link, so
    /// that busbw compares with the link's speed whatever the world size (nccl-tests' factors).
    func busFactor(worldSize n: Int) -> Double {
        switch self {
        case .allReduce: return 2 * Double(n - 1) / Double(n)
        case .allGather, .reduceScatter, .allToAll, .gather, .scatter: return Double(n - 1) / Double(n)
        case .broadcast, .reduce, .sendReceive: return 1
        }
    }

    /// Whether the size is cut into one block per rank (and so rounded to a multiple of them).
    var isBlocked: Bool { [.allGather, .reduceScatter, .allToAll, .gather, .scatter].contains(self) }

    var reduces: Bool { self == .allReduce || self == .reduceScatter || self == .reduce }

    /// Whether the collective has a root (`-r`; nccl-tests' default is 0).
    var isRooted: Bool { [.broadcast, .reduce, .gather, .scatter].contains(self) }

    /// Whether it has an in-place form to time (sendrecv has none: a rank would overwrite what
    /// it still sends).
    var hasInPlaceForm: Bool { self != .sendReceive }

    /// Element counts for a size of `count` elements (the larger buffer, as nccl-tests prints
    /// it): what each rank sends and receives.
    func layout(count: Int, worldSize n: Int) -> (send: Int, receive: Int, block: Int) {
        switch self {
        case .allReduce, .broadcast, .reduce, .sendReceive: return (count, count, count)
        case .allGather, .gather: return (count / n, count / n * n, count / n)
        case .reduceScatter, .scatter: return (count / n * n, count / n, count / n)
        case .allToAll: return (count / n * n, count / n * n, count / n)
        }
    }

    /// Runs the collective once. In place, `receive` is the only buffer (sized for the larger
    /// side); out of place, `send` is read and `receive` written.
    func run<T: CollectiveElement>(
        _: T.Type, send: UnsafeMutableRawPointer, receive: UnsafeMutableRawPointer, count: Int, inPlace: Bool,
        op: ReduceOperation, root: Int, algorithm: Algorithm?, communicator c: Communicator
    ) throws {
        if self == .allReduce {
            // Through the untyped forms, as a C program calls them: the generic ones, called here
            // with a type known only at run time, cost a metadata lookup per call.
            let bytes = count * T.dataType.size
            if inPlace {
                try c.allReduce(UnsafeMutableRawBufferPointer(start: receive, count: bytes), dataType: T.dataType, op: op, algorithm: algorithm)
            } else {
                try c.allReduce(UnsafeRawBufferPointer(start: send, count: bytes), into: UnsafeMutableRawBufferPointer(start: receive, count: bytes),
                                dataType: T.dataType, op: op, algorithm: algorithm)
            }
            return
        }
        let n = c.worldSize
        let (sendCount, receiveCount, _) = layout(count: count, worldSize: n)
        let input = UnsafeMutableBufferPointer(start: send.assumingMemoryBound(to: T.self), count: sendCount)
        let output = UnsafeMutableBufferPointer(start: receive.assumingMemoryBound(to: T.self), count: receiveCount)
        let whole = UnsafeMutableBufferPointer(start: receive.assumingMemoryBound(to: T.self), count: Swift.max(sendCount, receiveCount))
        switch (self, inPlace) {
        case (.allReduce, _): preconditionFailure("handled above")
        case (.broadcast, true): try c.broadcast(output, root: root)
        case (.broadcast, false): try c.broadcast(UnsafeBufferPointer(input), into: output, root: root)
        case (.reduce, true): try c.reduce(output, op: op, root: root)
        case (.reduce, false): try c.reduce(UnsafeBufferPointer(input), into: output, op: op, root: root)
        case (.allGather, true): try c.allGather(inPlace: whole)
        case (.allGather, false): try c.allGather(UnsafeBufferPointer(input), into: output)
        case (.reduceScatter, true): try c.reduceScatter(inPlace: whole, op: op)
        case (.reduceScatter, false): try c.reduceScatter(UnsafeBufferPointer(input), into: output, op: op)
        case (.allToAll, true): try c.allToAll(inPlace: whole)
        case (.allToAll, false): try c.allToAll(UnsafeBufferPointer(input), into: output)
        case (.gather, true):
            // As nccl-tests: this rank's block sits at its place in the gathered buffer.
            let block = sendCount
            try c.gather(UnsafeBufferPointer(rebasing: whole[(c.rank * block)..<((c.rank + 1) * block)]), into: whole, root: root)
        case (.gather, false): try c.gather(UnsafeBufferPointer(input), into: output, root: root)
        case (.scatter, true):
            let block = receiveCount
            try c.scatter(UnsafeBufferPointer(whole), into: UnsafeMutableBufferPointer(rebasing: whole[(c.rank * block)..<((c.rank + 1) * block)]),
                          root: root)
        case (.scatter, false): try c.scatter(UnsafeBufferPointer(input), into: output, root: root)
        case (.sendReceive, _):
            let next = (c.rank + 1) % n, previous = (c.rank + n - 1) % n
            let sent = c.startSend(UnsafeBufferPointer(input), to: next)
            let received = c.startReceive(into: output, from: previous)
            try sent.wait()
            try received.wait()
        }
    }

    /// Fills the buffers with reference inputs, runs once, and counts this rank's wrong elements.
    /// `corrupt` flips this rank's first result element before counting (to test the check).
    func check<T: CheckableElement>(
        _ type: T.Type, send: UnsafeMutableRawPointer, receive: UnsafeMutableRawPointer, count: Int, inPlace: Bool,
        op: ReduceOperation, root: Int, algorithm: Algorithm?, communicator c: Communicator, corrupt: Bool
    ) throws -> Int {
        let n = c.worldSize, rank = c.rank
        let (sendCount, receiveCount, block) = layout(count: count, worldSize: n)
        let reference = CollectiveReference(name, worldSize: n, rank: rank, blockCount: block, op: op, root: root)
        let sendTyped = UnsafeMutableBufferPointer(start: send.assumingMemoryBound(to: T.self), count: sendCount)
        let receiveTyped = UnsafeMutableBufferPointer(start: receive.assumingMemoryBound(to: T.self), count: Swift.max(sendCount, receiveCount))
        receiveTyped.update(repeating: .zero)
        if inPlace {
            switch self {
            case .allGather, .gather:
                // This rank's block, at its place in the gathered buffer.
                reference.fillInput(UnsafeMutableBufferPointer(rebasing: receiveTyped[(rank * block)..<((rank + 1) * block)]))
            default:
                reference.fillInput(UnsafeMutableBufferPointer(rebasing: receiveTyped[0..<sendCount]))
            }
        } else {
            reference.fillInput(sendTyped)
        }
        try run(type, send: send, receive: receive, count: count, inPlace: inPlace, op: op, root: root, algorithm: algorithm, communicator: c)
        let result: UnsafeMutableBufferPointer<T>
        switch self {
        case .reduceScatter where inPlace, .scatter where inPlace:
            result = UnsafeMutableBufferPointer(rebasing: receiveTyped[(rank * block)..<((rank + 1) * block)])
        case .reduce where rank != root, .gather where rank != root:
            return 0  // only the root's buffer holds a result
        default:
            result = UnsafeMutableBufferPointer(rebasing: receiveTyped[0..<reference.outputCount])
        }
        if corrupt, result.count > 0 { result[0] = result[0] == T(pattern: 5) ? T(pattern: 6) : T(pattern: 5) }
        return reference.countWrong(UnsafeBufferPointer(result))
    }
}
