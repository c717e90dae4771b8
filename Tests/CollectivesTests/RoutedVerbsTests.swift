import Collectives
import CollectivesBootstrap
import CollectivesSystem
import CollectivesTestSupport
import CollectivesTransport
import CollectivesVerification
import Testing

/// Shared memory inside each host and RDMA verbs across hosts, chosen by the transport factory
/// as in a job, with verbs on a loopback stand-in device (no RDMA device exists here) and
/// hosts told apart by `hostID` (as `COLLECTIVES_HOST_ID` does). The oracle is each collective's
/// sequential reference (CollectivesVerification).
@Suite struct RoutedVerbsTests {
    /// Hosts a, a, b, b, c: two hosts with two ranks each, and one rank alone.
    static let hostIDs = ["a", "a", "b", "b", "c"]

    /// The factory's transports for ranks on `hostIDs`, verbs on `device`, each made by a thread.
    static func factoryTransports(_ device: LoopbackVerbsDevice) throws -> [(transport: any Transport, hosts: [Int])] {
        let n = hostIDs.count
        let tcp = try TestGroups.tcp(worldSize: n, jobID: .random(in: 1...UInt64.max))
        let jobID = UInt64.random(in: 1...UInt64.max)
        let made = runRanks(n) { rank in
            var settings = BootstrapSettings(setUpTag: MessageTag(13))
            settings.hostID = hostIDs[rank] + "-\(jobID)"
            settings.verbsDevice = device
            settings.sharedMemory.ringBytes = 64 << 10
            return try TransportFactory.make(over: tcp[rank], jobID: jobID, settings: settings, localWorldSize: nil,
                                             deadline: .after(seconds: 30))
        }
        return try made.map { try $0.get() }
    }

    @Test func theFactoryRoutesSharedMemoryInsideEachHostAndVerbsAcross() throws {
        let device = LoopbackVerbsDevice()
        let made = try Self.factoryTransports(device)
        #expect(made.map(\.transport.name) == ["shm+verbs", "shm+verbs", "shm+verbs", "shm+verbs", "verbs"])
        #expect(made.allSatisfy { $0.hosts == [0, 0, 1, 1, 2] })
        var options = CommunicatorOptions()
        options.timeoutSeconds = 60
        options.ringSegmentBytes = 1000
        options.costModel = CostModel(latencySeconds: 20e-6, secondsPerByte: 1e-9, reduceSecondsPerByte: 1e-10)
        let communicators = made.map { Communicator(transport: $0.transport, options: options) }
        var cases: [CheckCase] = []
        for algorithm in [Algorithm.ring, .tree, .recursiveDoubling, .rabenseifner] {
            for count in [0, 1, 4, 1001, 300_007] {
                cases.append(CheckCase(collective: .allReduce, dataType: .float32, count: count, op: .sum, algorithm: algorithm, inPlace: count % 2 == 0))
            }
        }
        for collective in [CollectiveName.broadcast, .reduce, .allGather, .reduceScatter, .allToAll, .gather, .scatter, .barrier, .sendReceive] {
            for count in [3, 20_003] {
                cases.append(CheckCase(collective: collective, dataType: .int64, count: count, op: .max))
            }
        }
        let problems = runBatch(cases, on: communicators)
        #expect(problems.isEmpty, "\(problems.prefix(5))")
        // Verbs make no sub-communicators: a split says so and leaves the communicator working.
        let splits = runRanks(communicators.count) { rank in try communicators[rank].split(color: 0, key: rank) }
        for outcome in splits {
            #expect(throws: CollectivesError.self) { try outcome.get() }
            if case .failure(let error as CollectivesError) = outcome {
                #expect(error.kind == .invalidArgument && "\(error)".contains("cannot make sub-communicators"), "\(error)")
            }
        }
        let after = runBatch([CheckCase(collective: .allReduce, dataType: .float64, count: 777, op: .sum)], on: communicators)
        #expect(after.isEmpty, "\(after)")
        communicators.forEach { $0.close() }
        #expect(device.liveObjects == 0, "queue pairs or registrations left after close")
    }

    /// What `body` threw, if it threw.
    static func failure(_ body: () throws(TransportError) -> Void) -> TransportError? {
        do {
            try body()
            return nil
        } catch { return error }
    }

    /// A receive across hosts that no one answers times out within its deadline, naming the
    /// peer, and fails the shared-memory side too (nothing queued there can touch a buffer later).
    @Test func aSilentPeerAcrossHostsTimesOutAndFailsBothMedia() throws {
        let device = LoopbackVerbsDevice()
        let made = try Self.factoryTransports(device)
        defer { made.forEach { $0.transport.close() } }
        let zero = made[0].transport
        var byte: UInt8 = 0
        let started = Deadline.now.uptimeNanoseconds
        let error = withUnsafeMutableBytes(of: &byte) { buffer in
            Self.failure { () throws(TransportError) in try zero.receive(into: buffer, from: 2, tag: 5, deadline: .after(seconds: 0.3)) }
        }
        let waited = Double(Deadline.now.uptimeNanoseconds - started) / 1e9
        #expect(error?.kind == .timedOut && error?.peer == 2, "\(String(describing: error))")
        #expect(waited >= 0.3 && waited < 10, "waited \(waited) s")
        var other: UInt8 = 0
        let later = withUnsafeMutableBytes(of: &other) { buffer in
            Self.failure { () throws(TransportError) in _ = try zero.postReceive(into: buffer, from: 1, tag: 6) }
        }
        #expect(later?.kind == .timedOut, "a post over shared memory after the timeout: \(String(describing: later))")
    }
}
