import Collectives
import Testing

/// Message tags pack each type, operation and algorithm by its place in declaration order,
/// written out as a switch (`ordinal`): it must be its index in `allCases`, on every rank.
@Suite struct OrdinalTests {
    @Test func everyOrdinalIsTheIndexInAllCases() {
        #expect(DataType.allCases.enumerated().map { $0.element.ordinal } == Array(0..<DataType.allCases.count))
        #expect(ReduceOperation.allCases.enumerated().map { $0.element.ordinal } == Array(0..<ReduceOperation.allCases.count))
        #expect(Algorithm.allCases.enumerated().map { $0.element.ordinal } == Array(0..<Algorithm.allCases.count))
    }
}
