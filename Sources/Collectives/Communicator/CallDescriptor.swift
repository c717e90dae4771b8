import CollectivesTransport

/// What a collective call is, carried in every one of its messages (``MessageTag``) so that
/// ranks that called differently fail at once, each naming both calls.
///
/// The tag's value holds the sequence number and the kind; its call word packs the type, the
/// operation, the algorithm and the root (each as its index + 1, zero meaning "none"); its count
/// word holds the element count.
/// The cases of the enums a tag packs, in declaration order, made once: `allCases` builds a new
/// array at every use, which on the path of every call cost an allocation each.
enum Ordinals {
    static let dataTypes = Array(DataType.allCases)
    static let operations = Array(ReduceOperation.allCases)
    static let algorithms = Array(Algorithm.allCases)

    /// The value's index in its `allCases`, plus one; zero for `nil`.
    @inline(__always)
    static func index<T: DeclarationOrdinal>(of value: T?) -> UInt64 {
        value.map { UInt64($0.ordinal + 1) } ?? 0
    }
}

/// A case's place in its enum's declaration order, which is its index in `allCases`: a switch,
/// not a search of an array (on the path of every call). `OrdinalTests` checks the two agree.
package protocol DeclarationOrdinal: CaseIterable, Equatable {
    var ordinal: Int { get }
}

extension DataType: DeclarationOrdinal {
    package var ordinal: Int {
        switch self {
        case .float16: 0
        case .float32: 1
        case .float64: 2
        case .int32: 3
        case .int64: 4
        case .bfloat16: 5
        case .int8: 6
        case .uint8: 7
        case .uint32: 8
        case .uint64: 9
        case .bool: 10
        }
    }
}

extension ReduceOperation: DeclarationOrdinal {
    package var ordinal: Int {
        switch self {
        case .sum: 0
        case .product: 1
        case .min: 2
        case .max: 3
        case .average: 4
        case .bitwiseAnd: 5
        case .bitwiseOr: 6
        case .bitwiseXor: 7
        }
    }
}

extension Algorithm: DeclarationOrdinal {
    package var ordinal: Int {
        switch self {
        case .auto: 0
        case .ring: 1
        case .tree: 2
        case .recursiveDoubling: 3
        case .central: 4
        case .hierarchical: 5
        case .oneShot: 6
        case .rabenseifner: 7
        }
    }
}

struct CallDescriptor: CustomStringConvertible {
    var kind: CollectiveKind
    var sequence: UInt64
    var count: Int
    var dataType: DataType?
    var op: ReduceOperation?
    var algorithm: Algorithm?
    var root: Int?

    init(_ kind: CollectiveKind, sequence: UInt64, count: Int = 0, dataType: DataType? = nil, op: ReduceOperation? = nil,
         algorithm: Algorithm? = nil, root: Int? = nil) {
        self.kind = kind
        self.sequence = sequence
        self.count = count
        self.dataType = dataType
        self.op = op
        self.algorithm = algorithm
        self.root = root
    }

    var tag: MessageTag {
        let call = Ordinals.index(of: dataType) | Ordinals.index(of: op) << 8
            | Ordinals.index(of: algorithm) << 16 | UInt64(root.map { $0 + 1 } ?? 0) << 32
        return MessageTag(sequence << 8 | kind.rawValue, call: call, count: UInt64(count))
    }

    /// The call a tag describes, if it is one of ours.
    init?(_ tag: MessageTag) {
        guard let kind = CollectiveKind(rawValue: tag.value & 0xff) else { return nil }
        func value<T: CaseIterable>(_: T.Type, _ index: UInt64) -> T? {
            let all = Array(T.allCases)
            return index > 0 && index <= UInt64(all.count) ? all[Int(index - 1)] : nil
        }
        self.init(kind, sequence: tag.value >> 8, count: Int(clamping: tag.count),
                  dataType: value(DataType.self, tag.call & 0xff), op: value(ReduceOperation.self, tag.call >> 8 & 0xff),
                  algorithm: value(Algorithm.self, tag.call >> 16 & 0xff),
                  root: tag.call >> 32 == 0 ? nil : Int(tag.call >> 32) - 1)
    }

    var kindName: String {
        switch kind {
        case .allReduce: return "all-reduce"
        case .broadcast: return "broadcast"
        case .reduce: return "reduce"
        case .allGather: return "all-gather"
        case .reduceScatter: return "reduce-scatter"
        case .allToAll: return "all-to-all"
        case .gather: return "gather"
        case .scatter: return "scatter"
        case .barrier: return "barrier"
        case .probe: return "cost-model probe"
        case .split: return "split"
        case .pointToPoint: return "send/receive"
        case .setUp: return "set-up"
        case .allGatherVariable: return "variable all-gather"
        case .gatherVariable: return "variable gather"
        case .scatterVariable: return "variable scatter"
        case .allToAllVariable: return "variable all-to-all"
        case .customAllReduce: return "all-reduce with a custom reduction"
        }
    }

    var description: String {
        if kind == .pointToPoint {
            return "send/receive with tag \(sequence)" + (dataType.map { " (\(count) × \($0))" } ?? "")
        }
        return callTitle(kindName, sequence, count: count, dataType: dataType.map { "\($0)" }, op: op.map { "\($0)" },
                         root: root, algorithm: algorithm.map { "\($0)" })
    }
}

/// How errors and the flight recorder name a call: `all-reduce #7 (1000 × float32, sum, ring)`.
func callTitle(_ operation: String, _ sequence: UInt64, count: Int, dataType: String?, op: String?, root: Int?,
               algorithm: String?) -> String {
    var details: [String] = []
    if let dataType { details.append("\(count) × \(dataType)") } else if count > 0 { details.append("\(count) elements") }
    if let op { details.append(op) }
    if let root { details.append("root \(root)") }
    if let algorithm { details.append(algorithm) }
    return "\(operation) #\(sequence)" + (details.isEmpty ? "" : " (\(details.joined(separator: ", ")))")
}
