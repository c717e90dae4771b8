import ArgumentParser
import Collectives

/// A byte count written with an optional K, M or G suffix (powers of 1024).
struct ByteSize: ExpressibleByArgument {
    let bytes: Int

    init(_ bytes: Int) { self.bytes = bytes }

    init?(argument: String) {
        let text = argument.uppercased()
        let multipliers: [Character: Int] = ["K": 1 << 10, "M": 1 << 20, "G": 1 << 30]
        if let last = text.last, let multiplier = multipliers[last], let value = Int(text.dropLast()), value >= 0 {
            bytes = value * multiplier
        } else if let value = Int(text), value >= 0 {
            bytes = value
        } else {
            return nil
        }
    }
}

extension ReduceOperation: ExpressibleByArgument {
    /// Also nccl-tests' spellings: `prod`, `avg`.
    public init?(argument: String) {
        switch argument.lowercased() {
        case "prod": self = .product
        case "avg": self = .average
        default: self.init(rawValue: argument.lowercased())
        }
    }
}
extension DataType: ExpressibleByArgument {}
extension BenchCollective: ExpressibleByArgument {}
extension Algorithm: ExpressibleByArgument {
    public init?(argument: String) { self.init(name: argument) }
}
