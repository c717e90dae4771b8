/// The element types a collective can carry.
public enum DataType: String, Sendable, Hashable, CaseIterable, CustomStringConvertible {
    case float16, float32, float64, int32, int64

    /// Bytes per element.
    public var size: Int {
        switch self {
        case .float16: return 2
        case .float32, .int32: return 4
        case .float64, .int64: return 8
        }
    }

    public var description: String { rawValue }
}

/// A Swift type that collectives carry: `Float`, `Double`, `Int32`, `Int64` and, where the
/// platform has it, `Float16`.
public protocol CollectiveElement: Sendable, BitwiseCopyable {
    /// The wire type of this Swift type.
    static var dataType: DataType { get }
}

extension Float: CollectiveElement { public static var dataType: DataType { .float32 } }
extension Double: CollectiveElement { public static var dataType: DataType { .float64 } }
extension Int32: CollectiveElement { public static var dataType: DataType { .int32 } }
extension Int64: CollectiveElement { public static var dataType: DataType { .int64 } }
#if !((os(macOS) || targetEnvironment(macCatalyst)) && arch(x86_64))
@available(macOS 11.0, *)
extension Float16: CollectiveElement { public static var dataType: DataType { .float16 } }
#endif
