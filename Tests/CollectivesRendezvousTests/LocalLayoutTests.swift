import CollectivesRendezvous
import CollectivesSystem
import Testing

/// Ranks per host from each launcher's variables, and the network settings clusters need.
@Suite struct LocalLayoutTests {
    @Test func slurmTasksPerNodeLists() {
        #expect(SlurmTasksPerNode.expand("4(x2),3") == [4, 4, 3])
        #expect(SlurmTasksPerNode.expand("2") == [2])
        #expect(SlurmTasksPerNode.expand("1(x3)") == [1, 1, 1])
        for bad in ["", "x", "4(x)", "4(2)", "4(x2", "a,b", "4(x0)"] { #expect(SlurmTasksPerNode.expand(bad) == nil, "\(bad)") }
    }

    @Test func ranksPerHostFromEachLauncher() throws {
        let torchrun = try LaunchConfiguration.fromEnvironment(["RANK": "1", "WORLD_SIZE": "6", "MASTER_ADDR": "a", "LOCAL_WORLD_SIZE": "3"])
        #expect(torchrun.localWorldSize == 3)
        let slurm = try LaunchConfiguration.fromEnvironment([
            "SLURM_PROCID": "9", "SLURM_NTASKS": "11", "SLURM_LOCALID": "1", "SLURM_NODEID": "2",
            "SLURM_STEP_TASKS_PER_NODE": "4(x2),3", "MASTER_ADDR": "a", "MASTER_PORT": "1",
        ])
        #expect(slurm.localWorldSize == 3 && slurm.localRank == 1)
        let mpi = try LaunchConfiguration.fromEnvironment([
            "OMPI_COMM_WORLD_RANK": "2", "OMPI_COMM_WORLD_SIZE": "4", "OMPI_COMM_WORLD_LOCAL_RANK": "0",
            "OMPI_COMM_WORLD_LOCAL_SIZE": "2", "MASTER_ADDR": "a",
        ])
        #expect(mpi.localWorldSize == 2 && mpi.localRank == 0)
        let silent = try LaunchConfiguration.fromEnvironment(["RANK": "0", "WORLD_SIZE": "2", "MASTER_ADDR": "a"])
        #expect(silent.localWorldSize == nil)
        #expect(throws: RendezvousError.self) {
            _ = try LaunchConfiguration.fromEnvironment(["SLURM_PROCID": "0", "SLURM_NTASKS": "2", "SLURM_NODEID": "0",
                                                         "SLURM_STEP_TASKS_PER_NODE": "2(y2)", "MASTER_ADDR": "a", "MASTER_PORT": "1"])
        }
    }

    @Test func theStorePortUnderTorchrunsAgent() throws {
        let base = ["RANK": "0", "WORLD_SIZE": "2", "MASTER_ADDR": "a", "MASTER_PORT": "29500"]
        #expect(try LaunchConfiguration.fromEnvironment(base).masterPort == 29500)
        var agent = base
        agent["TORCHELASTIC_USE_AGENT_STORE"] = "True"
        #expect(try LaunchConfiguration.fromEnvironment(agent).masterPort == 29501)
        agent["COLLECTIVES_STORE_PORT"] = "31000"
        #expect(try LaunchConfiguration.fromEnvironment(agent).masterPort == 31000)
        agent["COLLECTIVES_STORE_PORT"] = "0"
        #expect(throws: RendezvousError.self) { _ = try LaunchConfiguration.fromEnvironment(agent) }
    }

    @Test func portRanges() throws {
        let range = try #require(PortRange("40000-40009"))
        #expect(range.lowest == 40000 && range.highest == 40009)
        let order = range.shuffledOrder()
        #expect(order.count == 10 && Set(order) == Set(40000...40009))
        for bad in ["", "40000", "40009-40000", "0-10", "1-70000", "a-b", "1-2-3"] { #expect(PortRange(bad) == nil, "\(bad)") }
        let configuration = try LaunchConfiguration.fromEnvironment(["RANK": "0", "WORLD_SIZE": "2", "MASTER_ADDR": "a", "COLLECTIVES_PORT_RANGE": "50000-50100"])
        #expect(configuration.portRange == PortRange("50000-50100"))
        #expect(throws: RendezvousError.self) {
            _ = try LaunchConfiguration.fromEnvironment(["RANK": "0", "WORLD_SIZE": "2", "MASTER_ADDR": "a", "COLLECTIVES_PORT_RANGE": "9-1"])
        }
    }

    /// Listening sockets take a port from the range, and say so when none is free.
    @Test func listenersTakeAPortFromTheRange() throws {
        // A range of three free ports (found by asking the kernel, then releasing them).
        let probe = try Socket.listen(on: .loopback(port: 0))
        let base = try probe.localAddress().port
        probe.close()
        let range = try #require(base < 65_000 ? PortRange("\(base)-\(base + 2)") : nil, "port \(base) leaves no range of three")
        var held: [Socket] = []
        defer { held.forEach { $0.close() } }
        for _ in 0..<3 {
            do {
                let socket = try Socket.listen(on: .loopback(port: 0), ports: range)
                let port = try socket.localAddress().port
                #expect(port >= range.lowest && port <= range.highest)
                held.append(socket)
            } catch {
                // Another process took one of the three meanwhile: nothing to conclude.
                return
            }
        }
        let error = #expect(throws: SocketError.self) { _ = try Socket.listen(on: .loopback(port: 0), ports: range) }
        #expect(error?.description.contains("COLLECTIVES_PORT_RANGE=\(range)") == true, "\(String(describing: error))")
    }

    @Test func interfaceFilters() throws {
        func address(_ text: String) -> SocketAddress { SocketAddress(parsing: text)! }
        let interfaces: [(name: String, address: SocketAddress)] = [
            ("lo", address("127.0.0.1:0")), ("lo", address("[::1]:0")),
            ("eth0", address("[fe80::1]:0")), ("eth0", address("10.0.0.5:0")),
            ("eth10", address("10.1.0.5:0")), ("docker0", address("172.17.0.1:0")),
            ("ib0", address("[fd00::7]:0")),
        ]
        func chosen(_ spec: String) -> String? { InterfaceFilter(spec)?.choose(from: interfaces).map { "\($0.name) \($0.address.host)" } }
        #expect(chosen("eth") == "eth0 10.0.0.5")          // a prefix: eth0 and eth10; the first
        #expect(chosen("=eth10") == "eth10 10.1.0.5")      // an exact name
        #expect(chosen("=eth1") == nil)                    // exact: eth10 is not eth1
        #expect(chosen("eth1") == "eth10 10.1.0.5")        // prefix: it is
        #expect(chosen("^eth,lo") == "docker0 172.17.0.1") // excluded prefixes
        #expect(chosen("^docker,eth") == "ib0 fd00::7")    // IPv6 when no IPv4 is left (loopback never by exclusion)
        #expect(chosen("ib") == "ib0 fd00::7")             // IPv6, routable
        #expect(chosen("lo") == "lo 127.0.0.1")            // loopback when named
        #expect(chosen("=eth0,ib0") == "eth0 10.0.0.5")    // a list; IPv4 first, link-local skipped
        #expect(chosen("^=eth0,eth10,docker0,ib0") == nil) // everything excluded but loopback
        for empty in ["", "^", "=", ",", "^="] { #expect(InterfaceFilter(empty) == nil, "\(empty)") }
    }
}
