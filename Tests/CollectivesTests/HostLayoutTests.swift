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
