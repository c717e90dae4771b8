/// The element types a collective can carry.
///
/// The order of the cases is part of the wire format (a call's type travels in its messages as
/// its index): new types go at the end.
public enum DataType: String, Sendable, Hashable, CaseIterable, CustomStringConvertible {
    case float16, float32, float64, int32, int64
    case bfloat16, int8, uint8, uint32, uint64, bool

    /// Bytes per element.
    public var size: Int {
        switch self {
        case .int8, .uint8, .bool: return 1
        case .float16, .bfloat16: return 2
        case .float32, .int32, .uint32: return 4
        case .float64, .int64, .uint64: return 8
        }
    }

    /// Whether the type is a floating-point number (`Float16`, ``BFloat16``, `Float`, `Double`).
    public var isFloatingPoint: Bool {
        switch self {
        case .float16, .bfloat16, .float32, .float64: return true
        default: return false
        }
    }

    /// Whether the type is an integer, signed or not (`Bool` is not).
    public var isInteger: Bool {
        switch self {
        case .int8, .uint8, .int32, .uint32, .int64, .uint64: return true
        default: return false
        }
    }

    public var description: String { rawValue }
}

/// A Swift type that collectives carry: `Float`, `Double`, `Float16`, ``BFloat16``, `Int8`,
/// `UInt8`, `Int32`, `UInt32`, `Int64`, `UInt64` and `Bool`.
///
/// The library conforms exactly these types. A conformance of another type must name a
/// ``DataType`` whose size is the type's own (`MemoryLayout<T>.size`); every collective checks
/// this and stops the program with a message naming the type otherwise, so that a wrong
/// conformance fails loudly instead of reading or writing outside the caller's memory. The elements are then reduced as that
/// ``DataType``.
public protocol CollectiveElement: Sendable, BitwiseCopyable {
    /// The wire type of this Swift type.
    static var dataType: DataType { get }
}

extension Float: CollectiveElement { public static var dataType: DataType { .float32 } }
extension Double: CollectiveElement { public static var dataType: DataType { .float64 } }
extension Int8: CollectiveElement { public static var dataType: DataType { .int8 } }
extension UInt8: CollectiveElement { public static var dataType: DataType { .uint8 } }
extension Int32: CollectiveElement { public static var dataType: DataType { .int32 } }
extension UInt32: CollectiveElement { public static var dataType: DataType { .uint32 } }
extension Int64: CollectiveElement { public static var dataType: DataType { .int64 } }
extension UInt64: CollectiveElement { public static var dataType: DataType { .uint64 } }
extension Bool: CollectiveElement { public static var dataType: DataType { .bool } }
extension BFloat16: CollectiveElement { public static var dataType: DataType { .bfloat16 } }
extension Float16: CollectiveElement { public static var dataType: DataType { .float16 } }

extension CollectiveElement {
    /// ``dataType``, checked against the type's size: a conformance that names a type of
    /// another size is a programming error that would otherwise corrupt memory.
    @inline(__always)
    static var checkedDataType: DataType {
        let type = dataType
        precondition(MemoryLayout<Self>.size == type.size && MemoryLayout<Self>.stride == type.size,
                     "\(Self.self) conforms to CollectiveElement as \(type), but is \(MemoryLayout<Self>.size) bytes, not \(type.size)")
        return type
    }
}

extension DataType {
    /// The Swift element type of this data type, to open generic calls with.
    package var elementType: any CollectiveElement.Type {
        switch self {
        case .float32: return Float.self
        case .float64: return Double.self
        case .float16: return Float16.self
        case .bfloat16: return BFloat16.self
        case .int8: return Int8.self
        case .uint8: return UInt8.self
        case .int32: return Int32.self
        case .uint32: return UInt32.self
        case .int64: return Int64.self
        case .uint64: return UInt64.self
        case .bool: return Bool.self
        }
    }
}
