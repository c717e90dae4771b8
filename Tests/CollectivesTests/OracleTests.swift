import Collectives
import CollectivesVerification
import Testing

/// The result checkers themselves: a result corrupted into NaN, an infinity or a zero of the
/// wrong sign is counted wrong (a comparison `abs(got - want) > bound` is false for NaN, so a
/// NaN used to pass every check).
@Suite struct OracleTests {
    static let corruptions: [(String, Double)] = [("NaN", .nan), ("+infinity", .infinity), ("-infinity", -.infinity)]

    @Test(arguments: [DataType.float32, .float64, .float16, .bfloat16])
    func aCorruptedAllReduceResultIsCounted(dataType: DataType) {
        func check<T: CheckableElement>(_: T.Type) {
            let worldSize = 3, count = 50
            var values = [T](repeating: .zero, count: count)
            values.withUnsafeMutableBufferPointer { buffer in
                for i in buffer.indices {
                    let want = ReferencePattern.expected(index: i, worldSize: worldSize, op: .sum, dataType: dataType)
                    buffer[i] = T(pattern: Int(want))
                }
            }
            #expect(values.withUnsafeBufferPointer { ReferencePattern.countWrong($0, worldSize: worldSize, op: .sum) } == 0)
            for (name, bad) in Self.corruptions {
                var corrupted = values
                corrupted[7] = Self.element(T.self, bad)
                let wrong = corrupted.withUnsafeBufferPointer { ReferencePattern.countWrong($0, worldSize: worldSize, op: .sum) }
                #expect(wrong == 1, "\(dataType): \(name) counted \(wrong) wrong")
            }
        }
        check(ElementTypes.type(of: dataType))
    }

    @Test func everyCollectivesReferenceCountsNaN() {
        for collective in CollectiveName.allCases where collective != .barrier {
            let reference = CollectiveReference(collective, worldSize: 4, rank: 0, blockCount: 9, op: .sum, root: 0)
            guard reference.outputCount > 0 else { continue }
            var output = (0..<reference.outputCount).map { Float(reference.expected(index: $0, dataType: .float32)) }
            #expect(output.withUnsafeBufferPointer { reference.countWrong($0) } == 0, "\(collective)")
            output[reference.outputCount - 1] = .nan
            #expect(output.withUnsafeBufferPointer { reference.countWrong($0) } == 1, "\(collective): a NaN passed")
        }
    }

    @Test func comparisonsEdgeCases() {
        #expect(ReferencePattern.isWrong(.nan, expected: 1, tolerance: 1e-6))
        #expect(!ReferencePattern.isWrong(.nan, expected: .nan, tolerance: 0))
        #expect(ReferencePattern.isWrong(1, expected: .nan, tolerance: 1))
        #expect(ReferencePattern.isWrong(.infinity, expected: 1e300, tolerance: 1e-6))
        #expect(!ReferencePattern.isWrong(-.infinity, expected: -.infinity, tolerance: 0))
        #expect(ReferencePattern.isWrong(-0.0, expected: 0, tolerance: 1e-6))
        #expect(!ReferencePattern.isWrong(0, expected: 0, tolerance: 0))
        #expect(!ReferencePattern.isWrong(1 + 1e-7, expected: 1, tolerance: 1e-6))
        #expect(ReferencePattern.isWrong(1 + 1e-5, expected: 1, tolerance: 1e-6))
    }

    static func element<T: CheckableElement>(_: T.Type, _ value: Double) -> T {
        switch T.self {
        case is Float.Type: return Float(value) as! T
        case is Double.Type: return value as! T
        case is Float16.Type: return Float16(value) as! T
        case is BFloat16.Type: return BFloat16(Float(value)) as! T
        default: fatalError("not a floating-point type")
        }
    }
}
