import Collectives

/// Deterministic inputs for every rank and the result an all-reduce of them must give,
/// computed sequentially: the reference that tests and `collectives-check` compare against.
///
/// Inputs are small integers (exact in every type, Float16 included), chosen so that sums,
/// products, minima and maxima over up to 16 ranks stay exact; only averages of floating-point
/// types round, and are compared with ``tolerance(for:)``.
public enum ReferencePattern {
    /// The value rank `rank` contributes at index `index` for `op`.
    public static func input(rank: Int, index: Int, op: ReduceOperation) -> Int {
        switch op {
        case .product:
            // Mostly ±1 with a few ±2, so that products over 16 ranks stay within Float16.
            let pattern = [1, -1, 1, 2, 1, -1, 1, 1, -2, 1, 1]
            return pattern[(index &* 7 &+ rank &* 3) % pattern.count]
        default:
            return (index &* 7 &+ rank &* 13) % 23 - 11
        }
    }

    /// Fills `buffer` with this rank's inputs.
    public static func fill<T: CollectiveElement & Numeric>(_ buffer: UnsafeMutableBufferPointer<T>, rank: Int, op: ReduceOperation) {
        for i in buffer.indices { buffer[i] = convert(input(rank: rank, index: i, op: op)) }
    }

    /// The exact reduction over ranks of the inputs at `index`, as a Double.
    public static func expected(index: Int, worldSize: Int, op: ReduceOperation, integerDivision: Bool) -> Double {
        var sum = 0, product = 1, smallest = Int.max, largest = Int.min
        for rank in 0..<worldSize {
            let value = input(rank: rank, index: index, op: op)
            sum += value
            product *= value
            smallest = Swift.min(smallest, value)
            largest = Swift.max(largest, value)
        }
        switch op {
        case .sum: return Double(sum)
        case .product: return Double(product)
        case .min: return Double(smallest)
        case .max: return Double(largest)
        case .average: return integerDivision ? Double(sum / worldSize) : Double(sum) / Double(worldSize)
        }
    }

    /// The largest difference accepted between a result and the reference, relative to
    /// max(1, |reference|): zero for integers; one rounding of the type for floating point.
    public static func tolerance(for dataType: DataType) -> Double {
        switch dataType {
        case .int32, .int64: return 0
        case .float16: return 1e-3
        case .float32: return 1e-6
        case .float64: return 1e-14
        }
    }

    /// Counts elements of `buffer` that differ from the reference.
    public static func countWrong<T: CollectiveElement & Numeric>(_ buffer: UnsafeBufferPointer<T>, worldSize: Int, op: ReduceOperation) -> Int {
        let isInteger = T.dataType == .int32 || T.dataType == .int64
        let tolerance = Self.tolerance(for: T.dataType)
        var wrong = 0
        for i in buffer.indices {
            let expected = Self.expected(index: i, worldSize: worldSize, op: op, integerDivision: isInteger)
            let got = toDouble(buffer[i])
            if abs(got - expected) > tolerance * max(1, abs(expected)) { wrong += 1 }
        }
        return wrong
    }

    public static func convert<T: CollectiveElement & Numeric>(_ value: Int) -> T {
        switch T.self {
        case is Float.Type: return Float(value) as! T
        case is Double.Type: return Double(value) as! T
        case is Int32.Type: return Int32(value) as! T
        case is Int64.Type: return Int64(value) as! T
        default:
            #if !((os(macOS) || targetEnvironment(macCatalyst)) && arch(x86_64))
            if T.self == Float16.self { return Float16(value) as! T }
            #endif
            fatalError("unsupported type \(T.self)")
        }
    }

    public static func toDouble<T: CollectiveElement & Numeric>(_ value: T) -> Double {
        switch value {
        case let v as Float: return Double(v)
        case let v as Double: return v
        case let v as Int32: return Double(v)
        case let v as Int64: return Double(v)
        default:
            #if !((os(macOS) || targetEnvironment(macCatalyst)) && arch(x86_64))
            if let v = value as? Float16 { return Double(v) }
            #endif
            fatalError("unsupported type \(T.self)")
        }
    }
}

/// The Swift type of each ``DataType``; pass it to a generic function to open it.
public enum ElementTypes {
    public static func type(of dataType: DataType) -> any (CollectiveElement & Numeric).Type {
        switch dataType {
        case .float32: return Float.self
        case .float64: return Double.self
        case .int32: return Int32.self
        case .int64: return Int64.self
        case .float16:
            #if !((os(macOS) || targetEnvironment(macCatalyst)) && arch(x86_64))
            return Float16.self
            #else
            fatalError("Float16 is not available on this platform")
            #endif
        }
    }
}
