import CollectivesSystem
import Synchronization
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// torchrun's one-launcher-per-node model in `collectives-run`: `--nnodes`, `--node-rank`,
/// `--nproc-per-node`, `--rdzv-endpoint`, and torchrun's `--log-dir`/`--tee`.
extension MultiProcessTests {
    /// Starts one launcher per node at once, each through `prefix` (e.g. `ip netns exec NS`),
    /// and returns each one's outcome, by node.
    func launchNodes(_ nodes: Int, perNode: Int, endpoint: String, prefix: (Int) -> [String] = { _ in [] },
                     extra: (Int) -> [String] = { _ in [] }, program: [String],
                     environment: [String: String], timeout: Double = 240) -> [Finished] {
        let results = Mutex<[Finished?]>(Array(repeating: nil, count: nodes))
        var threads: [SystemThread] = []
        for node in 0..<nodes {
            let command = prefix(node) + [Products.path("collectives-run"), "--nnodes", String(nodes), "--node-rank", String(node),
                                          "--nproc-per-node", String(perNode), "--rdzv-endpoint", endpoint] + extra(node) + ["--"] + program
            threads.append(SystemThread(name: "node \(node)") {
                let outcome = (try? run(command, environment: environment, timeout: timeout))
                    ?? Finished(status: -1, output: "could not start \(command)")
                results.withLock { $0[node] = outcome }
            })
        }
        threads.forEach { $0.join() }
        return results.withLock { $0.map { $0! } }
    }

    /// Two launchers on this host meet at a loopback endpoint and start ranks 0–1 and 2–3 of one
    /// job; every collective is right, and `--log-dir` holds each rank's streams under its global
    /// rank. Launchers that cannot meet (a node missing, another --nproc-per-node) stop before
    /// any rank starts, and say which node and why.
    @Test func perNodeLaunchersMeetAtTheEndpoint() throws {
        let directory = "/tmp/collectives-pernode-\(getpid())"
        defer { _ = system("rm -rf '\(directory)'") }
        let endpoint = "127.0.0.1:\(try freePort())"
        let finished = launchNodes(2, perNode: 2, endpoint: endpoint, extra: { _ in ["--log-dir", directory + "/logs"] },
                                   program: [Products.path("collectives-check"), "--collectives", "all", "--counts", "0", "3", "1001",
                                             "--types", "float32", "--ops", "sum"],
                                   environment: ["COLLECTIVES_TIMEOUT": "60", "COLLECTIVES_JOB_SECRET": "per-node-test"])
        for (node, result) in finished.enumerated() { #expect(result.status == 0, "node \(node):\n\(result.output)") }
        let output = finished.map(\.output).joined(separator: "\n")
        expectSummaries(output, ranks: 4, passed: allCollectivesChecks(counts: 3, opsPerType: [1]))
        #expect(finished[0].output.contains("[rank 1] rank 1 of 4:"), "\(finished[0].output)")
        #expect(finished[1].output.contains("[rank 3] rank 3 of 4:"), "\(finished[1].output)")
        for rank in 0..<4 {
            let logged = try TrainingProcessTests().readFile(directory + "/logs/attempt_0/\(rank)/stdout.log")
            #expect(logged.contains("rank \(rank) of 4: "), "rank \(rank)'s stdout.log: \(logged.prefix(300))")
            #expect(access(directory + "/logs/attempt_0/\(rank)/stderr.log", F_OK) == 0)
        }

        // A node that never comes: node 0 waits out COLLECTIVES_TIMEOUT and names it.
        let marker = directory + "/started"
        let program = ["/bin/sh", "-c", "touch \(marker)-$RANK"]
        let lonely = try run([Products.path("collectives-run"), "--nnodes", "2", "--node-rank", "0", "--nproc-per-node", "2",
                              "--rdzv-endpoint", "127.0.0.1:\(try freePort())", "--"] + program,
                             environment: ["COLLECTIVES_TIMEOUT": "2"], timeout: 60)
        #expect(lonely.status == 1, "\(lonely.output)")
        #expect(lonely.output.contains("node 1 of 2 did not come"), "\(lonely.output)")
        // Another number of ranks on node 1: both launchers refuse.
        let mismatched = launchNodes(2, perNode: 2, endpoint: "127.0.0.1:\(try freePort())",
                                     extra: { $0 == 1 ? ["--nproc-per-node", "3"] : [] }, program: program,
                                     environment: ["COLLECTIVES_TIMEOUT": "20"], timeout: 60)
        for result in mismatched { #expect(result.status == 1, "\(result.output)") }
        #expect(mismatched[0].output.contains("node 1 (on "), "\(mismatched[0].output)")
        #expect(mismatched[0].output.contains("has --nproc-per-node 3, this node 2"), "\(mismatched[0].output)")
        #expect(access(marker + "-0", F_OK) != 0 && access(marker + "-2", F_OK) != 0, "a rank started although the launchers did not meet")
    }

    /// Two emulated hosts (network namespaces, 1 Gbit/s links), one `collectives-run` in each
    /// starting its 2 ranks, meeting at node 0's address as one launcher per node does on a
    /// cluster: ranks inside a host share memory, pairs across use TCP, every collective is right,
    /// and a rank that fails on node 1 fails the job on both nodes, named by node 0's launcher.
    @Test(Capability.required(Capability.namespaces, "emulated hosts need root and iproute2 (ip, tc)"))
    func perNodeLaunchersAcrossTwoEmulatedHosts() throws {
        let cluster = try #require(EmulatedCluster.make(hosts: 2, rate: "1gbit"), "the emulated hosts could not be made")
        defer { cluster.remove() }
        let ip = String(EmulatedCluster.agent.split(separator: " ")[2])
        let inHost = { (node: Int) in [ip, "netns", "exec", cluster.names[node]] }
        let environment = ["COLLECTIVES_TIMEOUT": "60", "COLLECTIVES_JOB_SECRET": "per-node-hosts", "COLLECTIVES_LOG_LEVEL": "debug"]
        let finished = launchNodes(2, perNode: 2, endpoint: "\(cluster.address(0)):\(try freePort())", prefix: inHost,
                                   program: [Products.path("collectives-check"), "--collectives", "all", "--counts", "0", "3", "1001",
                                             "300007", "--types", "float32", "--ops", "sum"],
                                   environment: environment)
        for (node, result) in finished.enumerated() { #expect(result.status == 0, "node \(node):\n\(result.output)") }
        let output = finished.map(\.output).joined(separator: "\n")
        expectSummaries(output, ranks: 4, passed: allCollectivesChecks(counts: 4, opsPerType: [1]))
        #expect(output.contains("rank 0: shared memory with ranks [1] on this host, TCP with ranks [2, 3]"), "\(output)")
        #expect(output.contains("rank 3: shared memory with ranks [2] on this host, TCP with ranks [0, 1]"), "\(output)")

        // Rank 3 (node 1) exits with status 7 before its first collective.
        let failing = launchNodes(2, perNode: 2, endpoint: "\(cluster.address(0)):\(try freePort())", prefix: inHost,
                                  program: ["/bin/sh", "-c", "[ \"$RANK\" = 3 ] && exit 7; exec \(Products.path("collectives-check")) --collectives allreduce --counts 3"],
                                  environment: ["COLLECTIVES_TIMEOUT": "20", "COLLECTIVES_JOB_SECRET": "per-node-hosts"], timeout: 120)
        #expect(failing[1].status == 7, "\(failing[1].output)")
        #expect(failing[0].status != 0, "\(failing[0].output)")
        #expect(failing[0].output.contains("collectives-run: node 1: rank 3 exited with status 7"), "\(failing[0].output)")
    }
}
