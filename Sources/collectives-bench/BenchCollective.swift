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

    var name: CollectiveName {
        switch self {
        case .allReduce: return .allReduce
        case .allGather: return .allGather
        case .reduceScatter: return .reduceScatter
        case .broadcast: return .broadcast
        case .reduce: return .reduce
        case .allToAll: return .allToAll
        }
    }

    /// busbw = algbw × this factor: the fraction of the data that crosses the busiest link, so
    /// that busbw compares with the link's speed whatever the world size.
    func busFactor(worldSize n: Int) -> Double {
        switch self {
        case .allReduce: return 2 * Double(n - 1) / Double(n)
        case .allGather, .reduceScatter, .allToAll: return Double(n - 1) / Double(n)
        case .broadcast, .reduce: return 1
        }
    }

    /// Whether the size is cut into one block per rank (and so rounded to a multiple of them).
    var isBlocked: Bool { self == .allGather || self == .reduceScatter || self == .allToAll }

    var reduces: Bool { self == .allReduce || self == .reduceScatter || self == .reduce }

    /// The root of rooted collectives (nccl-tests' default), or -1.
    var root: Int { self == .broadcast || self == .reduce ? 0 : -1 }

    /// Element counts for a size of `count` elements (the larger buffer, as nccl-tests prints
    /// it): what each rank sends and receives.
    func layout(count: Int, worldSize n: Int) -> (send: Int, receive: Int, block: Int) {
        switch self {
        case .allReduce, .broadcast, .reduce: return (count, count, count)
        case .allGather: return (count / n, count / n * n, count / n)
        case .reduceScatter: return (count / n * n, count / n, count / n)
        case .allToAll: return (count / n * n, count / n * n, count / n)
        }
    }

    /// Runs the collective once. In place, `receive` is the only buffer (sized for the larger
    /// side); out of place, `send` is read and `receive` written.
    func run<T: CollectiveElement>(
        _: T.Type, send: UnsafeMutableRawPointer, receive: UnsafeMutableRawPointer, count: Int, inPlace: Bool,
        op: ReduceOperation, algorithm: Algorithm?, communicator c: Communicator
    ) throws {
        let n = c.worldSize
        let (sendCount, receiveCount, _) = layout(count: count, worldSize: n)
        let input = UnsafeMutableBufferPointer(start: send.assumingMemoryBound(to: T.self), count: sendCount)
        let output = UnsafeMutableBufferPointer(start: receive.assumingMemoryBound(to: T.self), count: receiveCount)
        let whole = UnsafeMutableBufferPointer(start: receive.assumingMemoryBound(to: T.self), count: Swift.max(sendCount, receiveCount))
        switch (self, inPlace) {
        case (.allReduce, true): try c.allReduce(output, op: op, algorithm: algorithm)
        case (.allReduce, false): try c.allReduce(UnsafeBufferPointer(input), into: output, op: op, algorithm: algorithm)
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
        }
    }

    /// Fills the buffers with reference inputs, runs once, and counts this rank's wrong elements.
    /// `corrupt` flips this rank's first result element before counting (to test the check).
    func check<T: CheckableElement>(
        _ type: T.Type, send: UnsafeMutableRawPointer, receive: UnsafeMutableRawPointer, count: Int, inPlace: Bool,
        op: ReduceOperation, algorithm: Algorithm?, communicator c: Communicator, corrupt: Bool
    ) throws -> Int {
        let n = c.worldSize, rank = c.rank
        let (sendCount, receiveCount, block) = layout(count: count, worldSize: n)
        let reference = CollectiveReference(name, worldSize: n, rank: rank, blockCount: block, op: op, root: Swift.max(root, 0))
        let sendTyped = UnsafeMutableBufferPointer(start: send.assumingMemoryBound(to: T.self), count: sendCount)
        let receiveTyped = UnsafeMutableBufferPointer(start: receive.assumingMemoryBound(to: T.self), count: Swift.max(sendCount, receiveCount))
        receiveTyped.update(repeating: .zero)
        if inPlace {
            switch self {
            case .allGather:
                // This rank's block, at its place in the gathered buffer.
                reference.fillInput(UnsafeMutableBufferPointer(rebasing: receiveTyped[(rank * block)..<((rank + 1) * block)]))
            default:
                reference.fillInput(UnsafeMutableBufferPointer(rebasing: receiveTyped[0..<sendCount]))
            }
        } else {
            reference.fillInput(sendTyped)
        }
        try run(type, send: send, receive: receive, count: count, inPlace: inPlace, op: op, algorithm: algorithm, communicator: c)
        let result: UnsafeMutableBufferPointer<T>
        switch self {
        case .reduceScatter where inPlace:
            result = UnsafeMutableBufferPointer(rebasing: receiveTyped[(rank * block)..<((rank + 1) * block)])
        case .reduce where rank != 0:
            return 0  // only the root's buffer holds a result
        default:
            result = UnsafeMutableBufferPointer(rebasing: receiveTyped[0..<reference.outputCount])
        }
        if corrupt, result.count > 0 { result[0] = result[0] == T(pattern: 5) ? T(pattern: 6) : T(pattern: 5) }
        return reference.countWrong(UnsafeBufferPointer(result))
    }
}
