/// How all-reduce combines the ranks' values, element by element.
public enum ReduceOperation: String, Sendable, Hashable, CaseIterable, CustomStringConvertible {
    /// The sum. Integers wrap around on overflow.
    case sum
    /// The product. Integers wrap around on overflow.
    case product
    /// The smallest value. For floating point, a NaN on one rank may or may not win.
    case min
    /// The largest value. For floating point, a NaN on one rank may or may not win.
    case max
    /// The sum divided by the number of ranks (integer division for integer types).
    case average

    public var description: String { rawValue }
}
