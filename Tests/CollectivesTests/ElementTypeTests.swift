import Collectives
import CollectivesTransport
import Testing

/// The element types beyond the first five: bfloat16 rounding (checked against a reference computed
/// in Double, not with the library's code), its bulk conversions and kernels, integer and `Bool`
/// reductions at their edges, and operations that do not apply to a type.
@Suite struct ElementTypeTests {
    /// The nearest bfloat16 to `value` by exhaustive comparison with both neighbours in Double,
    /// ties to the even bit pattern; NaN as NaN.
    func nearest(_ value: Float) -> UInt16? {
        if value.isNaN { return nil }
        let truncated = UInt16(truncatingIfNeeded: value.bitPattern >> 16)
        let below = truncated, above = truncated &+ 1
        func exact(_ bits: UInt16) -> Double { Double(Float(bitPattern: UInt32(bits) << 16)) }
        let x = Double(value)
        if exact(below) == x { return below }
        // `above` past the largest finite magnitude is infinity, which rounding treats as 2^128
        // (the next step of the exponent).
        let aboveValue = (above & 0x7fff) == 0x7f80 ? (value < 0 ? -1 : 1) * 0x1p128 : exact(above)
        let downDistance = abs(x - exact(below)), upDistance = abs(aboveValue - x)
        if downDistance < upDistance { return below }
        if upDistance < downDistance { return above }
        return below & 1 == 0 ? below : above
    }

    func floats(_ count: Int, seed: UInt64) -> [Float] {
        var state = seed
        let edges: [UInt32] = [0, 0x8000_0000, 1, 0x007f_ffff, 0x0080_0000, 0x7f7f_ffff, 0xff7f_ffff, 0x7f80_0000, 0xff80_0000,
                               0x7fc0_0000, 0x7f80_0001, 0x3f80_8000, 0x3f81_8000, 0x3f80_8001, 0x3f80_7fff, 0x7f7f_8000]
        return (0..<count).map { i in
            state = state &* 6364136223846793005 &+ 1442695040888963407
            return Float(bitPattern: i % 7 == 0 ? edges[(i / 7) % edges.count] : UInt32(truncatingIfNeeded: state >> 32))
        }
    }

    @Test func bfloat16RoundsToNearestEven() {
        let values = floats(200_000, seed: 3)
        var wrong: [Float] = []
        for value in values {
            let got = BFloat16(value)
            if let want = nearest(value) {
                if got.bitPattern != want { wrong.append(value) }
            } else if !got.isNaN {
                wrong.append(value)
            }
        }
        #expect(wrong.isEmpty, "wrong for \(wrong.prefix(5).map { String($0.bitPattern, radix: 16) })")
        #expect(BFloat16(1.0).bitPattern == 0x3f80)
        #expect(BFloat16(Float(bitPattern: 0x3f80_8000)).bitPattern == 0x3f80, "a tie rounds to even (down)")
        #expect(BFloat16(Float(bitPattern: 0x3f81_8000)).bitPattern == 0x3f82, "a tie rounds to even (up)")
        #expect(Float(BFloat16(bitPattern: 0x4049)) == 3.140625)
        #expect(BFloat16(-0.0) == BFloat16(0.0) && BFloat16(Float.nan) != BFloat16(Float.nan))
    }

    @Test(arguments: [0, 1, 3, 4, 5, 17, 1001])
    func bulkConversionsMatchTheScalarOnes(count: Int) {
        let values = floats(count, seed: 5)
        var halves = [BFloat16](repeating: .zero, count: count)
        values.withUnsafeBufferPointer { s in halves.withUnsafeMutableBufferPointer { BFloat16.convert(s, into: $0) } }
        #expect((0..<count).allSatisfy { i in values[i].isNaN ? halves[i].isNaN : halves[i].bitPattern == BFloat16(values[i]).bitPattern })
        var back = [Float](repeating: 0, count: count)
        halves.withUnsafeBufferPointer { s in back.withUnsafeMutableBufferPointer { BFloat16.convert(s, into: $0) } }
        #expect((0..<count).allSatisfy { i in back[i].bitPattern == UInt32(halves[i].bitPattern) << 16 })
    }

    /// Each kernel element equals widening both, combining in Float and rounding once.
    @Test(arguments: [ReduceOperation.sum, .product, .min, .max])
    func bfloat16KernelsRoundOnce(op: ReduceOperation) {
        let count = 10_007
        let x = floats(count, seed: 7).map { BFloat16($0) }, y = floats(count, seed: 8).map { BFloat16($0) }
        var target = x
        target.withUnsafeMutableBufferPointer { t in y.withUnsafeBufferPointer { LocalReduction.combine(t, $0, op: op) } }
        let wrong = (0..<count).filter { i in
            let a = Float(x[i]), b = Float(y[i])
            let want: Float
            switch op {
            case .sum: want = a + b
            case .product: want = a * b
            case .min: want = b < a ? b : a
            default: want = b > a ? b : a
            }
            let expected = BFloat16(want)
            return expected.isNaN ? !target[i].isNaN : target[i].bitPattern != expected.bitPattern
        }
        #expect(wrong.isEmpty, "\(op) wrong at \(wrong.prefix(5))")
    }

    @Test func integersWrapAndBooleansAreLogical() {
        var bytes: [Int8] = [127, -128, 100, -7]
        bytes.withUnsafeMutableBufferPointer { t in [Int8(1), -1, 100, 3].withUnsafeBufferPointer { LocalReduction.combine(t, $0, op: .sum) } }
        #expect(bytes == [-128, 127, -56, -4])
        var unsigned: [UInt64] = [.max, 0b1100]
        unsigned.withUnsafeMutableBufferPointer { t in [UInt64(2), 0b1010].withUnsafeBufferPointer { LocalReduction.combine(t, $0, op: .bitwiseXor) } }
        #expect(unsigned == [.max - 2, 0b0110])
        // An average over more ranks than Int8 can count.
        var average: [Int8] = [-128, 127, 5]
        average.withUnsafeMutableBufferPointer { LocalReduction.divide($0, by: 200) }
        #expect(average == [0, 0, 0])
        average = [-128, 100]
        average.withUnsafeMutableBufferPointer { LocalReduction.divide($0, by: 128) }
        #expect(average == [-1, 0])
        for (op, want) in [(ReduceOperation.bitwiseAnd, [false, false, false, true]), (.bitwiseOr, [false, true, true, true]),
                           (.bitwiseXor, [false, true, true, false]), (.min, [false, false, false, true]), (.max, [false, true, true, true])] {
            var flags = [false, false, true, true]
            flags.withUnsafeMutableBufferPointer { t in [false, true, false, true].withUnsafeBufferPointer { LocalReduction.combine(t, $0, op: op) } }
            #expect(flags == want, "\(op)")
        }
    }

    /// An operation that does not apply to the type is an error naming both, on a world of one
    /// rank too (where nothing would travel), and the communicator stays usable.
    @Test func anOperationThatDoesNotApplyIsNamed() throws {
        let communicators = InProcessTransport.makeGroup(worldSize: 2).map { Communicator(transport: $0) }
        defer { communicators.forEach { $0.close() } }
        let single = Communicator(transport: SingleRankTransport())
        defer { single.close() }
        var values: [Float] = [1, 2, 3]
        #expect(throws: CollectivesError.self) { try single.allReduce(&values, op: .bitwiseXor) }
        do {
            try single.allReduce(&values, op: .bitwiseXor)
        } catch {
            #expect(error.kind == .invalidArgument)
            #expect(error.description.contains("bitwiseXor does not apply to float32"), "\(error)")
        }
        var flags = [true, false]
        do {
            try communicators[0].reduce(&flags, op: .sum, root: 0)
            Issue.record("a sum of Bool was accepted")
        } catch {
            #expect(error.description.contains("sum does not apply to bool"), "\(error)")
        }
        try single.allReduce(&values, op: .sum)
        #expect(values == [1, 2, 3])
    }

    /// A collection without contiguous storage is refused with a reason, not copied silently.
    @Test func aCollectionWithoutContiguousStorageIsRefused() throws {
        struct Scattered: MutableCollection {
            var storage: [Float]
            var startIndex: Int { 0 }
            var endIndex: Int { storage.count }
            func index(after i: Int) -> Int { i + 1 }
            subscript(position: Int) -> Float {
                get { storage[position] }
                set { storage[position] = newValue }
            }
        }
        let single = Communicator(transport: SingleRankTransport())
        defer { single.close() }
        var scattered = Scattered(storage: [1, 2])
        do {
            try single.allReduce(&scattered)
            Issue.record("a collection without contiguous storage was accepted")
        } catch {
            #expect(error.kind == .invalidArgument && error.description.contains("no contiguous storage"), "\(error)")
        }
        var slice = [Float](repeating: 3, count: 8)[2..<5]
        try single.allReduce(&slice)
        #expect(Array(slice) == [3, 3, 3])
    }
}
