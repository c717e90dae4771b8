/// How a reduction combines the ranks' values, element by element.
///
/// The order of the cases is part of the wire format: new operations go at the end.
public enum ReduceOperation: String, Sendable, Hashable, CaseIterable, CustomStringConvertible {
    /// The sum. Integers wrap around on overflow.
    case sum
    /// The product. Integers wrap around on overflow.
    case product
    /// The smallest value. For floating point, a NaN on one rank may or may not win. For `Bool`,
    /// logical and.
    case min
    /// The largest value. For floating point, a NaN on one rank may or may not win. For `Bool`,
    /// logical or.
    case max
    /// The sum divided by the number of ranks (integer division, of the wrapped sum, for integer
    /// types).
    case average
    /// Bitwise and of integers; logical and of `Bool`.
    case bitwiseAnd
    /// Bitwise or of integers; logical or of `Bool`.
    case bitwiseOr
    /// Bitwise exclusive or of integers; logical exclusive or of `Bool` (true where an odd number
    /// of ranks hold true).
    case bitwiseXor

    /// Whether this operation applies to `dataType`: arithmetic and ordering to numbers, bitwise
    /// operations to integers and `Bool`, ordering (as and/or) to `Bool`.
    public func applies(to dataType: DataType) -> Bool {
        switch self {
        case .sum, .product, .average: return dataType != .bool
        case .min, .max: return true
        case .bitwiseAnd, .bitwiseOr, .bitwiseXor: return !dataType.isFloatingPoint
        }
    }

    public var description: String { rawValue }
}
