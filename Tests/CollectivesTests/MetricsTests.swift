import Collectives
import CollectivesTestSupport
import CollectivesSystem
import MetricsTestKit
import Testing

/// Metrics through swift-metrics: each rank (a thread, over loopback TCP, bootstrapped through
/// the TCP store) has a test backend of its own, so the counts are this test's alone.
@Suite(.serialized) struct MetricsTests {
    @Test func callsBytesTimesFailuresAndBootstrapAreRecorded() throws {
        let port = try freeLoopbackPort()
        let backends = (0..<3).map { _ in TestMetrics() }
        let outcomes = runRanks(3) { rank -> String in
            var options = CommunicatorOptions()
            options.metricsFactory = backends[rank]
            options.algorithm = .ring
            options.timeoutSeconds = 30
            let communicator = try Communicator(configuration: LaunchConfiguration(rank: rank, worldSize: 3, masterAddress: "127.0.0.1",
                                                                                  masterPort: port, timeoutSeconds: 30), options: options)
            defer { communicator.close() }
            var values = [Float](repeating: 1, count: 1001)
            for _ in 0..<4 { try communicator.allReduce(&values) }
            _ = try communicator.allGather([Int64(rank)])
            try communicator.barrier()
            return "ok"
        }
        for outcome in outcomes { #expect((try? outcome.get()) == "ok", "\(outcome)") }
        for backend in backends {
            let ring = [("collective", "all-reduce"), ("algorithm", "ring")]
            #expect(try backend.expectCounter("collectives_calls_total", ring).values.count == 4)
            #expect(backend.counterTotal(label: "collectives_calls_total", dimensions: ring) == 4)
            #expect(backend.counterTotal(label: "collectives_bytes_total", dimensions: [("collective", "all-reduce")]) == 4 * 1001 * 4)
            #expect(try backend.expectTimer("collectives_duration", ring).values.count == 4)
            #expect(backend.counterTotal(label: "collectives_calls_total", dimensions: [("collective", "all-gather"), ("algorithm", "ring")]) == 1)
            #expect(backend.counterTotal(label: "collectives_calls_total", dimensions: [("collective", "barrier"), ("algorithm", "dissemination")]) == 1)
            #expect(try backend.expectTimer("collectives_bootstrap_duration").values.count == 1)
        }
    }

    /// A failure is counted by kind.
    @Test func aFailureIsCountedByKind() throws {
        let port = try freeLoopbackPort()
        let backends = (0..<2).map { _ in TestMetrics() }
        let outcomes = runRanks(2) { rank -> Bool in
            var options = CommunicatorOptions()
            options.metricsFactory = backends[rank]
            let communicator = try Communicator(configuration: LaunchConfiguration(rank: rank, worldSize: 2, masterAddress: "127.0.0.1",
                                                                                  masterPort: port, timeoutSeconds: 30), options: options)
            defer { communicator.close() }
            // Different counts: a mismatch on both ranks.
            var values = [Float](repeating: 1, count: rank == 0 ? 10 : 11)
            do {
                try communicator.allReduce(&values, algorithm: .ring)
                return false
            } catch let error as CollectivesError {
                return error.kind == .mismatch
            }
        }
        for outcome in outcomes { #expect((try? outcome.get()) == true, "\(outcome)") }
        let mismatches = backends.map { $0.counterTotal(label: "collectives_failures_total", dimensions: [("kind", "mismatch")]) }
        #expect(mismatches.allSatisfy { $0 == 1 }, "\(mismatches)")
    }
}
