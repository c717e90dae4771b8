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
        // A timeout that is not a number stops the launcher, as it would stop the ranks.
        let malformed = try run([Products.path("collectives-run"), "--nnodes", "2", "--node-rank", "0", "--nproc-per-node", "2",
                                 "--rdzv-endpoint", "127.0.0.1:\(try freePort())", "--"] + program,
                                environment: ["COLLECTIVES_TIMEOUT": "soon"], timeout: 60)
        #expect(malformed.status == 2 && malformed.output.contains("COLLECTIVES_TIMEOUT=soon is not a positive number of seconds"), "\(malformed.output)")
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

extension MultiProcessTests {
    /// A real OpenSSH server in each of two emulated hosts (scripts/emulated-sshd.sh: keys made
    /// for the test, host keys checked, no password): `collectives-run --hosts` starts its ranks
    /// through `ssh` (its default agent with the test's client configuration), and OpenMPI's
    /// `mpirun` through its default `ssh` agent; every collective is right under both, and each
    /// host's ranks share memory.
    @Test(Capability.required(Capability.namespaces && Capability.sshd && Capability.mpirun,
                              "needs root, iproute2, Debian's openssh-server and openmpi-bin (scripts/setup.sh --for-tests)"))
    func throughARealSshdInEachEmulatedHost() throws {
        let cluster = try #require(EmulatedCluster.make(hosts: 2, rate: "1gbit"), "the emulated hosts could not be made")
        defer { cluster.remove() }
        let directory = "/tmp/collectives-sshd-\(getpid())"
        let script = Products.repositoryRoot + "/scripts/emulated-sshd.sh"
        let up = try run(["/bin/bash", script, "up", cluster.name, "2", cluster.subnet, directory], timeout: 60)
        defer {
            _ = try? run(["/bin/bash", script, "down", directory], timeout: 30)
            _ = system("rm -rf '\(directory)'")
        }
        try #require(up.status == 0, "the sshds did not start: \(up.output)")
        let config = directory + "/ssh_config"
        let check = [Products.path("collectives-check"), "--collectives", "all", "--counts", "0", "3", "1001", "300007",
                     "--types", "float32", "--ops", "sum"]

        let launched = try run([Products.path("collectives-run"), "--hosts", "\(cluster.address(0)):2,\(cluster.address(1)):2",
                                "--launch-agent", "ssh -o BatchMode=yes -F \(config)", "--master-addr", cluster.bridgeAddress, "--"] + check,
                               environment: ["COLLECTIVES_TIMEOUT": "60", "COLLECTIVES_LOG_LEVEL": "debug"], timeout: 300)
        #expect(launched.status == 0, "\(launched.output)")
        expectSummaries(launched.output, ranks: 4, passed: allCollectivesChecks(counts: 4, opsPerType: [1]))
        #expect(launched.output.contains("rank 0: shared memory with ranks [1] on this host, TCP with ranks [2, 3]"), "\(launched.output)")
        #expect(launched.output.contains("rank 2: listening on \(cluster.address(1)):"), "\(launched.output)")

        let mpirun = ["/usr/bin/mpirun", "--host", "\(cluster.address(0)):2,\(cluster.address(1)):2", "-np", "4",
                      "--mca", "plm_rsh_args", "-F \(config)", "--mca", "oob_tcp_if_include", cluster.subnet + ".0/24",
                      "--mca", "btl", "self", "--mca", "rtc", "^hwloc",
                      "-x", "MASTER_ADDR=\(cluster.address(0))", "-x", "MASTER_PORT=\(try freePort())", "-x", "COLLECTIVES_JOB_SECRET",
                      "-x", "COLLECTIVES_TIMEOUT=60", "-x", "COLLECTIVES_LOG_LEVEL"]
        let environment = ["OMPI_ALLOW_RUN_AS_ROOT": "1", "OMPI_ALLOW_RUN_AS_ROOT_CONFIRM": "1",
                           "COLLECTIVES_JOB_SECRET": "sshd-test", "COLLECTIVES_LOG_LEVEL": "debug"]
        let underMPI = try run(mpirun + check, environment: environment, timeout: 300)
        #expect(underMPI.status == 0, "\(underMPI.output)")
        expectSummaries(underMPI.output, ranks: 4, passed: allCollectivesChecks(counts: 4, opsPerType: [1]))
        #expect(underMPI.output.contains("rank 3: shared memory with ranks [2] on this host, TCP with ranks [0, 1]"), "\(underMPI.output)")
    }
}
