import CollectivesSystem
import CollectivesTestSupport
import CollectivesTransport
import Testing

/// The RDMA verbs path as far as it runs without a device: the loader with the library present
/// and absent, device discovery, the out-of-band encoding and the queue-pair state machine.
@Suite struct VerbsTests {
    @Test(.enabled(if: VerbsLibrary.isBuilt || ProcessEnvironment.current()["CI"] == "true",
                   "built without libibverbs headers (scripts/setup.sh installs libibverbs-dev): no loader to test"))
    func anAbsentLibraryIsReportedByName() {
        #expect(VerbsLibrary.isBuilt, "built without libibverbs headers, which scripts/setup.sh installs")
        let availability = RDMAAvailability.probe(libraryPath: "libibverbs-that-does-not-exist.so.1")
        #expect(!availability.usable)
        #expect(availability.reason.contains("cannot load libibverbs-that-does-not-exist.so.1"), "\(availability.reason)")
    }

    @Test func thePresentLibraryLoadsAndFindsNoDeviceHere() {
        let availability = RDMAAvailability.probe()
        guard VerbsLibrary.isBuilt else {
            #expect(availability.reason.contains("no RDMA verbs support"))
            return
        }
        if availability.reason.contains("cannot load") {
            // rdma-core's runtime is not installed: the loader said so, which is what matters.
            #expect(!availability.usable)
            return
        }
        // Loaded: on these machines there is no device, and the reason says so in one line.
        let devices = (try? VerbsLibrary.devices().get()) ?? []
        if devices.isEmpty {
            #expect(!availability.usable)
            #expect(availability.reason.hasPrefix("no RDMA device"), "\(availability.reason)")
            #expect(throws: VerbsFailure.self) { _ = try VerbsQueuePair(device: 0) }
        }
        #expect(!availability.reason.contains("\n"))
    }

    @Test func endpointInfoRoundTripsAndRejectsGarbage() {
        let info = VerbsEndpointInfo(queuePair: 0x1234, packetSequence: 0xABCDEF, lid: 7, mtu: 5, usesGID: true,
                                     gid: Array(0..<16), ringAddress: 0x7fff_0000_1000, ringKey: 99, ringBytes: 4 << 20)
        let bytes = info.encoded()
        #expect(bytes.count == VerbsEndpointInfo.size)
        #expect(VerbsEndpointInfo.decode(bytes) == info)
        #expect(VerbsEndpointInfo.decode(Array(bytes.dropLast())) == nil)
        var badMTU = bytes
        badMTU[10] = 9
        #expect(VerbsEndpointInfo.decode(badMTU) == nil)
        var badPSN = bytes
        badPSN[7] = 1
        #expect(VerbsEndpointInfo.decode(badPSN) == nil)
        var generator = SeededRandom(seed: TestSeed.make(for: "endpointInfoRoundTripsAndRejectsGarbage"))
        for _ in 0..<2000 {
            var mutated = bytes
            mutated[Int.random(in: 0..<mutated.count, using: &generator)] = UInt8.random(in: 0...255, using: &generator)
            if let decoded = VerbsEndpointInfo.decode(mutated) {
                #expect(decoded.encoded() == mutated)
            }
        }
    }

    @Test func queuePairStatesMoveOnlyForward() {
        let forward: [QueuePairState] = [.reset, .initialized, .readyToReceive, .readyToSend]
        for (a, b) in zip(forward, forward.dropFirst()) { #expect(a.canMove(to: b), "\(a) → \(b)") }
        #expect(!QueuePairState.reset.canMove(to: .readyToSend))
        #expect(!QueuePairState.initialized.canMove(to: .readyToSend))
        #expect(!QueuePairState.readyToSend.canMove(to: .initialized))
        for state in QueuePairState.allCases where state != .error { #expect(state.canMove(to: .error)) }
        #expect(QueuePairState.error.canMove(to: .reset))
    }
}
