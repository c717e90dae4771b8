import CollectivesSystem
import Synchronization
import Testing

#if canImport(Glibc)
import Glibc
#endif

extension MultiProcessTests {
    /// Four ranks told they are on two hosts (`COLLECTIVES_HOST_ID`), every listening socket in
    /// `COLLECTIVES_PORT_RANGE`: each rank knows its host, pairs on one host use shared memory
    /// and pairs across hosts TCP, and every collective is right.
    @Test func hostIdentitiesAndAPortRange() throws {
        let probe = try Socket.listen(on: .loopback(port: 0))
        let base = try probe.localAddress().port
        probe.close()
        let low = Int(base) > 64_000 ? 40_000 : Int(base)
        let range = "\(low)-\(low + 200)"
        let check = Products.path("collectives-check")
        let result = try run([Products.path("collectives-run"), "-n", "4", "--", "/bin/sh", "-c",
                              "COLLECTIVES_HOST_ID=h$((RANK / 2)) exec \(check) --collectives all --counts 0 3 1001 --types float32 --ops sum"],
                             environment: ["COLLECTIVES_TIMEOUT": "60", "COLLECTIVES_PORT_RANGE": range, "COLLECTIVES_LOG_LEVEL": "debug"],
                             timeout: 300)
        #expect(result.status == 0, "\(result.output)")
        expectSummaries(result.output, ranks: 4, passed: allCollectivesChecks(counts: 3, opsPerType: [1]))
        for rank in 0..<4 {
            #expect(result.output.contains("[rank \(rank)] ") && result.output.contains("rank \(rank): 2 ranks on this host (host \(rank / 2) of 2)"),
                    "rank \(rank): \(result.output)")
        }
        // Pairs on one host use shared memory, pairs across hosts TCP.
        #expect(result.output.contains("connected (shm+tcp)"), "\(result.output)")
        for (rank, mate, others) in [(0, 1, "[2, 3]"), (1, 0, "[2, 3]"), (2, 3, "[0, 1]"), (3, 2, "[0, 1]")] {
            #expect(result.output.contains("rank \(rank): shared memory with ranks [\(mate)] on this host, TCP with ranks \(others)"),
                    "rank \(rank): \(result.output)")
        }
        let ports = result.output.split(separator: "\n").compactMap { line -> Int? in
            guard line.contains(": listening on "), let address = line.split(separator: " ").last else { return nil }
            return address.split(separator: ":").last.flatMap { Int($0) }
        }
        #expect(ports.count == 4 && ports.allSatisfy { $0 >= low && $0 <= low + 200 }, "\(ports) not in \(range)")
    }

    /// `COLLECTIVES_SOCKET_IFNAME` takes prefixes and `=exact` names; one that matches nothing
    /// is an error that lists the interfaces there are.
    @Test func interfaceSelection() throws {
        let check = [Products.path("collectives-check"), "--counts", "3", "--types", "float32", "--ops", "sum"]
        for spec in ["lo", "=lo"] {
            let result = try run([Products.path("collectives-run"), "-n", "2", "--"] + check,
                                 environment: ["COLLECTIVES_TIMEOUT": "30", "COLLECTIVES_SOCKET_IFNAME": spec, "COLLECTIVES_TRANSPORT": "tcp",
                                               "COLLECTIVES_LOG_LEVEL": "debug"], timeout: 60)
            #expect(result.status == 0, "\(spec): \(result.output)")
            #expect(result.output.contains("COLLECTIVES_SOCKET_IFNAME=\(spec): interface lo, 127.0.0.1"), "\(spec): \(result.output)")
        }
        let none = try run([Products.path("collectives-run"), "-n", "2", "--"] + check,
                           environment: ["COLLECTIVES_TIMEOUT": "30", "COLLECTIVES_SOCKET_IFNAME": "=no-such-interface"], timeout: 60)
        #expect(none.status != 0)
        #expect(none.output.contains("COLLECTIVES_SOCKET_IFNAME==no-such-interface: no interface") && none.output.contains("lo"), "\(none.output)")
    }
}

extension MultiProcessTests {
    /// Rank 0 advertises an address rank 1 cannot reach (`COLLECTIVES_SOCKET_IFNAME` names an
    /// interface on a network only rank 0's host is on): rank 1 fails within seconds, naming the
    /// pair and the address, instead of at the job's deadline. Three network namespaces.
    @Test(Capability.required(Capability.namespaces, "network namespaces need root and iproute2 (ip, tc)"))
    func anUnreachableAdvertisedAddressIsNamedAtOnce() throws {
        let pair = try #require(VethPair.make(), "the network namespaces could not be made")
        defer { pair.remove() }
        // A third namespace behind rank 0's host, on 10.88.x.0/24, that rank 1 has no route to.
        let third = pair.names[0] + "x"
        let subnet = Int.random(in: 0...250)
        let setup = try run(["/bin/sh", "-c", """
            ip netns add \(third) && ip link add v9 netns \(pair.names[0]) type veth peer name v8 netns \(third) && \
            ip -n \(pair.names[0]) addr add 10.88.\(subnet).1/24 dev v9 && ip -n \(pair.names[0]) link set v9 up && \
            ip -n \(third) link set v8 up
            """], timeout: 30)
        defer { _ = try? run(["/bin/sh", "-c", "ip netns del \(third)"], timeout: 30) }
        #expect(setup.status == 0, "\(setup.output)")
        let port = try freePort()
        let ended = Mutex<[Double?]>([nil, nil])
        let outputs = Mutex<[String]>(["", ""])
        let started = Deadline.now
        let ranks = (0..<2).map { rank in
            SystemThread(name: "rank \(rank)") {
                var environment = ["RANK": String(rank), "WORLD_SIZE": "2", "MASTER_ADDR": pair.addresses[0], "MASTER_PORT": String(port),
                                   "COLLECTIVES_JOB_SECRET": "reach", "COLLECTIVES_TIMEOUT": "20", "COLLECTIVES_TRANSPORT": "tcp"]
                if rank == 0 { environment["COLLECTIVES_SOCKET_IFNAME"] = "=v9" }
                let result = try? run(["ip", "netns", "exec", pair.names[rank], Products.path("collectives-check"), "--counts", "3"],
                                      environment: environment, timeout: 60)
                ended.withLock { $0[rank] = Double(Deadline.now.uptimeNanoseconds - started.uptimeNanoseconds) / 1e9 }
                outputs.withLock { $0[rank] = result?.output ?? "could not run" }
            }
        }
        ranks.forEach { $0.join() }
        let output = outputs.withLock { $0[1] }
        let seconds = ended.withLock { $0[1] } ?? .infinity
        #expect(output.contains("reaching rank 0 at 10.88.\(subnet).1:"), "\(output)")
        #expect(output.contains("COLLECTIVES_SOCKET_IFNAME"), "\(output)")
        #expect(seconds < 10, "rank 1 gave up after \(seconds) s: \(output)")
    }
}

extension MultiProcessTests {
    /// Under torchrun, its elastic agent serves a store on MASTER_PORT and sets
    /// TORCHELASTIC_USE_AGENT_STORE=True: the ranks then meet on MASTER_PORT + 1 and run. Without
    /// the variable, the port taken is an error that says so.
    @Test func torchrunsAgentStoreOnMasterPortDoesNotCollide() throws {
        // Two free ports side by side: the agent's (held here, as torchrun's agent would) and ours.
        var agent: Socket?
        var port: UInt16 = 0
        for _ in 0..<50 where agent == nil {
            let candidate = try freePort()
            guard candidate < 65_000, let held = try? Socket.listen(on: .loopback(port: candidate)) else { continue }
            if let next = try? Socket.listen(on: .loopback(port: candidate + 1)) {
                next.close()
                agent = held
                port = candidate
            } else {
                held.close()
            }
        }
        guard let agent else {
            Issue.record("found no two free ports side by side")
            return
        }
        defer { agent.close() }
        let check = [Products.path("collectives-check"), "--counts", "3", "--types", "float32", "--ops", "sum"]
        let environment = ["MASTER_ADDR": "127.0.0.1", "MASTER_PORT": String(port), "COLLECTIVES_TIMEOUT": "20",
                           "COLLECTIVES_JOB_SECRET": "t", "LOCAL_WORLD_SIZE": "2"]
        var under = environment
        under["TORCHELASTIC_USE_AGENT_STORE"] = "True"
        let results = runRanks(2, check, environment: under, perRank: { ["LOCAL_RANK": String($0)] }, timeout: 60)
        for (rank, result) in results.enumerated() {
            #expect(result.status == 0 && result.output.contains("1 passed, 0 failed"), "rank \(rank): \(result.output)")
        }
        let collided = runRanks(2, check, environment: environment, timeout: 60)
        #expect(collided[0].status != 0 && collided[0].output.contains("in use"), "\(collided[0].output)")
    }
}
