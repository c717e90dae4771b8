/// Where the ranks are, host by host: what the topology-aware algorithms need from
/// ``Communicator/hosts``. Pure functions of the host of every rank; tested alone.
package struct HostLayout: Sendable, Hashable {
    /// The host of every rank, by rank (hosts numbered in order of their first rank).
    package let hosts: [Int]
    /// The ranks of each host, in rank order, hosts in order.
    package let members: [[Int]]

    /// The layout of ranks whose hosts are `hosts` (by rank; any numbering).
    package init(hosts: [Int]) {
        self.hosts = hosts
        // Hosts in order of their first rank.
        var index: [Int: Int] = [:]
        var members: [[Int]] = []
        for (rank, host) in hosts.enumerated() {
            if let known = index[host] {
                members[known].append(rank)
            } else {
                index[host] = members.count
                members.append([rank])
            }
        }
        self.members = members
    }

    /// The number of hosts.
    package var hostCount: Int { members.count }

    /// Whether every host holds the same number of ranks (what the hierarchical all-reduce needs).
    package var isUniform: Bool { members.allSatisfy { $0.count == members[0].count } }

    /// Ranks ordered host by host (each host's in rank order): a ring in this order crosses from
    /// one host to the next once per direction. `nil` when that is already rank order.
    package var ringOrder: [Int]? {
        let order = members.flatMap { $0 }
        return order == Array(hosts.indices) ? nil : order
    }

    /// For the hierarchical all-reduce of `rank`: the ranks of its host, and the ranks at its
    /// place on every host (one per host, hosts in order). `nil` unless there are at least two
    /// hosts, each with the same number (at least two) of ranks.
    package func hierarchy(of rank: Int) -> (local: [Int], across: [Int])? {
        guard hostCount >= 2, isUniform, members[0].count >= 2 else { return nil }
        let local = members.first { $0.contains(rank) }!
        let place = local.firstIndex(of: rank)!
        return (local, members.map { $0[place] })
    }
}
