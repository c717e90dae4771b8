import ArgumentParser
import Collectives
import CollectivesSystem


/// `-d`: one type, or `all`, with nccl-tests' names (`float`, `half`, `double`, `int`…) as well
/// as the library's own (`float32`, `float16`, `float64`…).
struct TypeChoice: ExpressibleByArgument, CustomStringConvertible {
    let list: [DataType]
    let description: String

    init?(argument: String) {
        let name = argument.lowercased()
        let aliases: [String: DataType] = ["float": .float32, "half": .float16, "double": .float64, "int": .int32,
                                           "bf16": .bfloat16, "fp16": .float16, "fp32": .float32, "fp64": .float64]
        if name == "all" {
            list = DataType.allCases
        } else if let type = aliases[name] ?? DataType(rawValue: name) {
            list = [type]
        } else {
            return nil
        }
        description = name == "all" ? "all" : list[0].rawValue
    }
}

/// `-o`: one operation (nccl-tests' `prod` and `avg` too), or `all`: every one that applies to
/// the type.
struct OperationChoice: ExpressibleByArgument, CustomStringConvertible {
    let list: [ReduceOperation]
    let description: String

    init?(argument: String) {
        if argument.lowercased() == "all" {
            list = ReduceOperation.allCases
            description = "all"
        } else if let op = ReduceOperation(argument: argument) {
            list = [op]
            description = op.rawValue
        } else {
            return nil
        }
    }
}

/// Where a rank runs, for the header lines.
struct RankPlace: Codable, Sendable {
    var pid: Int
    var host: String

    static func ofThisProcess() -> RankPlace { RankPlace(pid: Int(thisProcessID), host: thisHostName(fallback: "?")) }
}
