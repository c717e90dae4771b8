import Collectives
import Testing

/// The half-precision kernels (in C with the CPU's conversions where it has them) give the bits
/// of Swift's own Float16 arithmetic, for every kind of value: normal, subnormal, zero of either
/// sign, infinite; NaN stays NaN.
@Suite struct HalfKernelTests {
    /// Every kind of half: random bit patterns, and the edges.
    func values(_ count: Int, seed: UInt64) -> [Float16] {
        var state = seed
        let edges: [UInt16] = [0x0000, 0x8000, 0x0001, 0x8001, 0x03ff, 0x0400, 0x7bff, 0xfbff, 0x7c00, 0xfc00, 0x3c00, 0x3555]
        return (0..<count).map { i in
            state = state &* 6364136223846793005 &+ 1442695040888963407
            let bits = i % 5 == 0 ? edges[(i / 5) % edges.count] : UInt16(truncatingIfNeeded: state >> 40)
            return Float16(bitPattern: bits)
        }
    }

    func same(_ a: Float16, _ b: Float16) -> Bool { a.isNaN ? b.isNaN : a.bitPattern == b.bitPattern }

    @Test(arguments: [0, 1, 7, 8, 9, 15, 1001, 65_537])
    func sumsAndProductsAsSwiftComputesThem(count: Int) {
        let x = values(count, seed: 1), y = values(count, seed: 2)
        for op in [ReduceOperation.sum, .product] {
            var target = x
            target.withUnsafeMutableBufferPointer { t in
                y.withUnsafeBufferPointer { LocalReduction.combine(t, $0, op: op) }
            }
            let wrong = (0..<count).filter { i in !same(target[i], op == .sum ? x[i] + y[i] : x[i] * y[i]) }
            #expect(wrong.isEmpty, "\(op) wrong at \(wrong.prefix(5).map { (x[$0].bitPattern, y[$0].bitPattern, target[$0].bitPattern) })")
        }
    }

    /// The element chosen, bit for bit (NaN payloads and zero signs too), as `b < a ? b : a`
    /// and `b > a ? b : a` choose.
    @Test(arguments: [0, 1, 7, 8, 9, 1001, 65_537])
    func minimaAndMaximaChooseAsSwiftDoes(count: Int) {
        var x = values(count, seed: 4), y = values(count, seed: 5)
        // Some NaNs (with payloads) and zeros of both signs against each other.
        for i in stride(from: 3, to: count, by: 11) { x[i] = Float16(bitPattern: 0x7e01 + UInt16(i % 7)) }
        for i in stride(from: 6, to: count, by: 13) { y[i] = Float16(bitPattern: 0xfd03) }
        for i in stride(from: 2, to: count, by: 17) { x[i] = Float16(bitPattern: 0x8000); y[i] = Float16(bitPattern: 0x0000) }
        for op in [ReduceOperation.min, .max] {
            var target = x
            target.withUnsafeMutableBufferPointer { t in
                y.withUnsafeBufferPointer { LocalReduction.combine(t, $0, op: op) }
            }
            let wrong = (0..<count).filter { i in
                let a = x[i], b = y[i]
                let expected = op == .min ? (b < a ? b : a) : (b > a ? b : a)
                return target[i].bitPattern != expected.bitPattern
            }
            #expect(wrong.isEmpty, "\(op) wrong at \(wrong.prefix(5).map { (x[$0].bitPattern, y[$0].bitPattern, target[$0].bitPattern) })")
        }
    }

    @Test(arguments: [0, 1, 9, 1001])
    func averagesDivideAsSwiftDoes(count: Int) {
        let x = values(count, seed: 3)
        for ranks in [2, 3, 7] {
            var target = x
            target.withUnsafeMutableBufferPointer { LocalReduction.divide($0, by: ranks) }
            let wrong = (0..<count).filter { i in !same(target[i], x[i] / Float16(ranks)) }
            #expect(wrong.isEmpty, "÷\(ranks) wrong at \(wrong.prefix(5))")
        }
    }
}
