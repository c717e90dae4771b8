import Collectives
import PropertyBased

/// One random call of a collective, as the property tests draw it: where it runs, how many
/// ranks, which collective on which type with which operation, algorithm, segment size and root,
/// how many elements, in place or not, and the seed of the values each rank contributes.
struct PropertyCase: Sendable, CustomStringConvertible {
    enum Collective: String, CaseIterable, Sendable {
        case allReduce = "all-reduce", reduce, broadcast, allGather = "all-gather"
        case reduceScatter = "reduce-scatter", allToAll = "all-to-all", gather, scatter

        var reduces: Bool { self == .allReduce || self == .reduce || self == .reduceScatter }
        var isRooted: Bool { self == .reduce || self == .broadcast || self == .gather || self == .scatter }
    }

    var worldSize: Int
    var collective: Collective
    var dataType: DataType
    var op: ReduceOperation
    var algorithm: Algorithm
    /// Elements per rank's block: the whole buffer for all-reduce, reduce and broadcast, one
    /// block of the world size's for the others.
    var count: Int
    var root: Int
    var segmentBytes: Int
    var inPlace: Bool
    var valueSeed: UInt64

    var description: String {
        "\(worldSize) ranks, \(collective)\(collective == .allReduce ? " (\(algorithm))" : "")\(collective.isRooted ? " root \(root)" : "") "
            + "of \(count) × \(dataType) with \(op), \(segmentBytes)-byte segments, \(inPlace ? "in place" : "out of place"), values \(valueSeed)"
    }

    /// Counts that matter: 0, 1, primes, around the world size and its multiples, and any
    /// other up to a few thousand.
    static func count(_ choice: Int, _ raw: Int, worldSize: Int) -> Int {
        let primes = [2, 3, 5, 7, 13, 31, 127, 509, 1021, 4093]
        switch choice {
        case 0: return 0
        case 1: return 1
        case 2: return primes[raw % primes.count]
        case 3: return Swift.max(0, worldSize - 1 + raw % 3 - 1)
        case 4: return worldSize * (1 + raw % 7) + (raw % 3 - 1)
        default: return raw % 5000
        }
    }

    /// Every field from its own generator, so that a failure shrinks field by field.
    static var generator: Generator<PropertyCase, some SendableSequenceType> {
        zip(Gen.int(in: 1...9), Gen.int(in: 0...(Collective.allCases.count - 1)), Gen.int(in: 0...(DataType.allCases.count - 1)),
            Gen.int(in: 0...(ReduceOperation.allCases.count - 1)), Gen.int(in: 0...5), Gen.int(in: 0...5), Gen.int(in: 0...100_000),
            Gen.int(in: 0...3), Gen.bool, Gen.uint64(in: 0...UInt64.max))
            .map { worldSize, collective, type, op, algorithm, countChoice, raw, segment, inPlace, seed in
                let dataType = DataType.allCases[type]
                let applicable = ReduceOperation.allCases.filter { $0.applies(to: dataType) }
                return PropertyCase(
                    worldSize: worldSize, collective: Collective.allCases[collective], dataType: dataType,
                    op: applicable[op % applicable.count],
                    algorithm: [.ring, .tree, .recursiveDoubling, .rabenseifner, .central, .auto][algorithm],
                    count: count(countChoice, raw, worldSize: worldSize), root: raw % worldSize,
                    segmentBytes: [64, 256, 4096, 512 << 10][segment], inPlace: inPlace, valueSeed: seed)
            }
    }
}
