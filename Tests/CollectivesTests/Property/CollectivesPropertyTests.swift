import Collectives
import CollectivesSystem
import PropertyBased
import Testing

/// Every collective against a sequential reference computed by the test (in `Double`, or exactly
/// in the type for integers), on random cases drawn by swift-property-based: world sizes 1–9,
/// counts of 0, 1, primes and ones that the world size does not divide, roots, every element type
/// and operation that applies to it, all-reduce algorithms, segment sizes, in place and out of
/// place, and inexact values across exponents, so that float16, bfloat16 and float32 rounding is
/// exercised against bounds derived from the number of ranks. Over the in-process transport, TCP
/// between threads, shared memory, and the routed shm+tcp transport.
///
/// A failing case is shrunk and reported with its seed; `COLLECTIVES_TEST_SEED=<seed>` replays
/// it (`.fixedSeed` in the message). `COLLECTIVES_PROPERTY_CASES` sets the cases per transport
/// (default 125: 500 per run).
@Suite(.serialized) struct CollectivesPropertyTests {
    static var casesPerTransport: Int {
        ProcessEnvironment.current()["COLLECTIVES_PROPERTY_CASES"].flatMap { Int($0) } ?? 125
    }

    @Test(ReplaySeedTrait(), arguments: PropertyTransport.allCases)
    func everyCollectiveMatchesTheSequentialReference(transport: PropertyTransport) async throws {
        let pool = CommunicatorPool(transport)
        defer { pool.close() }
        let cases = Self.casesPerTransport
        print("property test over \(transport): \(cases) random cases; a failure is shrunk and names its seed "
              + "(replay: COLLECTIVES_TEST_SEED=<seed>)")
        await propertyCheck(count: cases, input: PropertyCase.generator) { propertyCase in
            let communicators = try pool.communicators(worldSize: propertyCase.worldSize, segmentBytes: propertyCase.segmentBytes)
            let failures = PropertyRun.failures(propertyCase, on: communicators)
            #expect(failures.isEmpty, "\(transport): \(propertyCase): \(failures.joined(separator: "\n"))")
        }
    }

    /// The reference and its bounds are themselves checked: a result off by one unit in the
    /// last place of a float32 sum of one rank is caught, as is a NaN; an exact sum passes.
    @Test func theComparisonCatchesWhatItMust() {
        let exact: [Float] = [1.5]
        let reference = Float.reference(exact, op: .sum)
        #expect(PropertyRun.compare(exact, [reference], rank: 0).isEmpty)
        #expect(!PropertyRun.compare([Float.nan], [reference], rank: 0).isEmpty)
        #expect(!PropertyRun.compare([Float.infinity], [reference], rank: 0).isEmpty)
        #expect(!PropertyRun.compare([Float(1.5).nextUp.nextUp.nextUp.nextUp], [reference], rank: 0).isEmpty)
        #expect(!PropertyRun.compare([Int32(3)], [Int32.reference([1, 1], op: .sum)], rank: 0).isEmpty)
        #expect(Int8.reference([100, 100], op: .sum) == .bits(UInt64(UInt8(bitPattern: -56))))
    }
}

/// Replays one property case from `COLLECTIVES_TEST_SEED` (the seed a failure names), through
/// swift-property-based's fixed seed; without it, nothing changes.
struct ReplaySeedTrait: TestTrait, TestScoping {
    func provideScope(for test: Test, testCase: Test.Case?, performing function: @Sendable () async throws -> Void) async throws {
        // A number is the seed of another kind of random test (TestSeed): not this one's.
        guard let text = ProcessEnvironment.current()["COLLECTIVES_TEST_SEED"], !text.isEmpty, UInt64(text) == nil else {
            try await function()
            return
        }
        let seed = String(text.filter { $0 != "(" && $0 != ")" && $0 != "\"" && $0 != " " })
        guard let generator = Xoshiro(seed: seed) else {
            Issue.record("COLLECTIVES_TEST_SEED=\(text) is neither a number nor a seed that a property test printed")
            return
        }
        print("replaying the property case of seed \(seed)")
        let state = generator.currentState
        await FixedSeedTrait.fixedSeed(state.0, state.1, state.2, state.3).provideScope(for: test, testCase: testCase, performing: function)
    }
}
