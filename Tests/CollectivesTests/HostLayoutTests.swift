import Collectives
import Testing

@Suite struct HostLayoutTests {
    @Test func hostsAreNumberedByTheirFirstRank() {
        let layout = HostLayout(hosts: [7, 3, 7, 3, 9])
        #expect(layout.members == [[0, 2], [1, 3], [4]])
        #expect(layout.hostCount == 3)
        #expect(!layout.isUniform)
    }

    @Test func aRingGoesHostByHost() {
        // Ranks dealt round-robin over two hosts: the ring visits one host's, then the other's.
        #expect(HostLayout(hosts: [0, 1, 0, 1, 0, 1]).ringOrder == [0, 2, 4, 1, 3, 5])
        // Already in order, or one host: rank order, no subset needed.
        #expect(HostLayout(hosts: [0, 0, 1, 1]).ringOrder == nil)
        #expect(HostLayout(hosts: [0, 0, 0]).ringOrder == nil)
        #expect(HostLayout(hosts: []).ringOrder == nil)
    }

    @Test func aHierarchyNeedsSeveralHostsOfTheSameSize() {
        let layout = HostLayout(hosts: [0, 1, 0, 1, 0, 1])
        for rank in 0..<6 {
            let hierarchy = layout.hierarchy(of: rank)
            #expect(hierarchy?.local == (rank % 2 == 0 ? [0, 2, 4] : [1, 3, 5]))
            // The ranks at this rank's place on every host, hosts in order.
            let place = rank / 2
            #expect(hierarchy?.across == [2 * place, 2 * place + 1])
        }
        #expect(HostLayout(hosts: [0, 0, 1]).hierarchy(of: 0) == nil, "uneven hosts")
        #expect(HostLayout(hosts: [0, 1, 2]).hierarchy(of: 0) == nil, "one rank per host")
        #expect(HostLayout(hosts: [0, 0, 0, 0]).hierarchy(of: 0) == nil, "one host")
    }
}

@Suite struct HierarchicalCostTests {
    /// A slow link between hosts (1 Gbit/s) and fast memory inside (2 GB/s).
    let model = CostModel(latencySeconds: 50e-6, secondsPerByte: 8e-9, reduceSecondsPerByte: 0.1e-9, localSecondsPerByte: 0.5e-9)

    @Test func theHierarchyWinsLargeMessagesOverASlowLink() throws {
        let bytes = 64 << 20
        let ring = model.predictedSeconds(.ring, bytes: bytes, worldSize: 4, segmentBytes: 512 << 10)
        let hierarchy = try #require(model.predictedHierarchicalSeconds(bytes: bytes, hosts: 2, ranksPerHost: 2))
        // N across the link instead of 1.5 N, the host's part overlapped: close to 1.5× faster.
        #expect(ring / hierarchy > 1.3 && ring / hierarchy < 1.5, "ring \(ring) s, hierarchy \(hierarchy) s")
    }

    @Test func aSlowHostLosesToTheRing() throws {
        var slowInside = model
        slowInside.localSecondsPerByte = 40e-9
        let bytes = 64 << 20
        let ring = slowInside.predictedSeconds(.ring, bytes: bytes, worldSize: 4, segmentBytes: 512 << 10)
        let hierarchy = try #require(slowInside.predictedHierarchicalSeconds(bytes: bytes, hosts: 2, ranksPerHost: 2))
        #expect(hierarchy > ring)
    }

    @Test func withoutTheHostsOwnConstantThereIsNoPrediction() {
        let unknown = CostModel(latencySeconds: 50e-6, secondsPerByte: 8e-9, reduceSecondsPerByte: 0.1e-9)
        #expect(unknown.predictedHierarchicalSeconds(bytes: 1 << 20, hosts: 2, ranksPerHost: 2) == nil)
        #expect(model.predictedHierarchicalSeconds(bytes: 0, hosts: 2, ranksPerHost: 2) == 0)
    }
}
