#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// The C library's mathematical functions that the standard library lacks.
package enum CMath {
    /// eˣ.
    @inlinable package static func exp(_ x: Float) -> Float { expf(x) }
    /// ln x.
    @inlinable package static func log(_ x: Float) -> Float { logf(x) }
    /// cos x (radians).
    @inlinable package static func cos(_ x: Double) -> Double { Glibc.cos(x) }
    /// log₂ x.
    @inlinable package static func log2(_ x: Double) -> Double { Glibc.log2(x) }
}
