import Collectives
import CollectivesTestSupport
import CollectivesRendezvous
import CollectivesSystem
import CollectivesTransport
import Testing

/// RDMA set-up and teardown against a recording stand-in for a device (no device here).
@Suite struct VerbsSetUpTests {
    /// What rank 0 of `worldSize` would receive from its peers through the TCP mesh.
    static func fakeAllGather(rank: Int, worldSize: Int) -> ([UInt8]) throws(TransportError) -> [[UInt8]] {
        { mine in
            // The agreement rounds (one byte): every peer agrees.
            if mine.count == 1 { return (0..<worldSize).map { $0 == rank ? mine : [1] } }
            return (0..<worldSize).map { peer in
                peer == rank ? mine : VerbsEndpointInfo(queuePair: UInt32(100 + peer), packetSequence: 7, lid: 1, mtu: 5, usesGID: false,
                                                        gid: [], ringAddress: 4096, ringKey: 9, ringBytes: 1 << 16).encoded()
            }
        }
    }

    @Test func closingTearsDownQueuePairsThenRegistrationsThenEndpoints() throws {
        let device = RecordingVerbsDevice()
        let transport = try RDMATransport.establish(rank: 0, worldSize: 3, device: 0, ringBytes: 1 << 16, depth: 4, on: device,
                                                    allGather: Self.fakeAllGather(rank: 0, worldSize: 3))
        // Two peers: two endpoints, four registrations (inbound and staging rings), two connects.
        #expect(device.events.filter { if case .register = $0 { return true } else { return false } }.count == 4, "\(device.events)")
        transport.close()
        #expect(device.teardownProblems().isEmpty, "\(device.teardownProblems()) in \(device.events)")
        // A second close, and the transport's release, tear nothing down twice.
        transport.close()
        #expect(device.teardownProblems().isEmpty, "\(device.events)")
    }

    @Test func aFailedSetUpTearsDownWhatItMadeInOrder() {
        // The third registration (the second peer's inbound ring) fails.
        let device = RecordingVerbsDevice(failingRegistration: 3)
        let error = #expect(throws: TransportError.self) {
            _ = try RDMATransport.establish(rank: 0, worldSize: 3, device: 0, ringBytes: 1 << 16, depth: 4, on: device,
                                            allGather: Self.fakeAllGather(rank: 0, worldSize: 3))
        }
        #expect(error?.description.contains("ibv_reg_mr") == true, "\(String(describing: error))")
        #expect(device.teardownProblems().isEmpty, "\(device.teardownProblems()) in \(device.events)")
        // e1 (first peer, rings r2 and r3) and e4 (second peer, whose first ring failed).
        #expect(device.events.contains(.destroyEndpoint(1)) && device.events.contains(.destroyEndpoint(4)), "\(device.events)")
    }

    /// Three ranks over real TCP ask for verbs; rank 1's set-up fails (a registration). Every
    /// rank ends up on TCP, the others tear down what they made, and the job runs.
    @Test func aSetUpFailureOnOneRankTakesEveryRankToTCP() throws {
        let port = try freeLoopbackPort()
        let devices = (0..<3).map { RecordingVerbsDevice(failingRegistration: $0 == 1 ? 2 : nil) }
        let outcomes = runRanks(3) { rank -> (String, [Int32]) in
            let configuration = LaunchConfiguration(rank: rank, worldSize: 3, masterAddress: "127.0.0.1", masterPort: port, timeoutSeconds: 30)
            var options = CommunicatorOptions()
            options.transport = .verbs
            options.verbsDevice = devices[rank]
            let communicator = try Communicator(configuration: configuration, options: options)
            defer { communicator.close() }
            var values = [Int32](repeating: Int32(rank + 1), count: 1001)
            try communicator.allReduce(&values)
            return (communicator.transportName, Array(values.prefix(3)))
        }
        for (rank, outcome) in outcomes.enumerated() {
            guard case .success(let (name, values)) = outcome else {
                Issue.record("rank \(rank): \(outcome)")
                continue
            }
            #expect(name == "tcp", "rank \(rank) uses \(name)")
            #expect(values == [6, 6, 6], "rank \(rank): \(values)")
        }
        for (rank, device) in devices.enumerated() {
            #expect(!device.events.isEmpty, "rank \(rank) never tried verbs")
            #expect(device.teardownProblems().isEmpty, "rank \(rank): \(device.teardownProblems()) in \(device.events)")
        }
    }
}
