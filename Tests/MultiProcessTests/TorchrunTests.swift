import CollectivesSystem
import Synchronization
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// The library's own programs started by PyTorch's launcher itself (`torchrun --no-python`, from
/// scripts/torch-env.sh's .build-torch/venv), as a user coming from torchrun starts them: the
/// environment torchrun's elastic agent sets (its store on `MASTER_PORT`, so the ranks meet on
/// `MASTER_PORT + 1`) is enough for every rank to find the others.
@Suite struct TorchrunTests {
    static var available: Bool { TorchBackendTests.environment }
    static let fashionMNIST = "/usr/share/datasets/fashion-mnist"

    /// Runs `program` under torchrun with `launch` (its rendezvous options) and 3 ranks. The
    /// ranks' store gets a port found free (`COLLECTIVES_STORE_PORT`) rather than the agent's
    /// port + 1, which another test's process running beside may hold.
    func torchrun(_ launch: [String], _ program: [String], timeout: Double = 300) throws -> Finished {
        try run([TorchBackendTests.torchrun] + launch + ["--nproc-per-node", "3", "--no-python"] + program,
                environment: ["COLLECTIVES_TIMEOUT": "60", "OMP_NUM_THREADS": "1", "COLLECTIVES_STORE_PORT": String(try freePort())],
                timeout: timeout)
    }

    @Test(Capability.required(available, "needs scripts/torch-env.sh's .build-torch/venv"))
    func collectivesCheckUnderStandaloneTorchrun() throws {
        let result = try torchrun(["--standalone"], [Products.path("collectives-check"), "--counts", "0", "1", "2", "1001"])
        #expect(result.status == 0, "\(result.output)")
        for rank in 0..<3 {
            #expect(result.output.split(separator: "\n").contains { $0.hasPrefix("rank \(rank) of 3: ") && $0.hasSuffix(" passed, 0 failed") },
                    "rank \(rank):\n\(result.output)")
        }
    }

    /// torchrun's c10d rendezvous at an endpoint the test chose, as one node of a multi-node job.
    @Test(Capability.required(available, "needs scripts/torch-env.sh's .build-torch/venv"))
    func collectivesBenchUnderTorchrunWithC10dRendezvous() throws {
        let endpoint = "127.0.0.1:\(try freePort())"
        let result = try torchrun(["--nnodes", "1", "--rdzv-backend", "c10d", "--rdzv-endpoint", endpoint],
                                  [Products.path("collectives-bench"), "-b", "8", "-e", "1M", "-f", "4"])
        #expect(result.status == 0, "\(result.output)")
        #expect(result.output.contains("# Out of bounds values : 0 OK"), "\(result.output)")
        #expect(result.output.contains("3 ranks"), "\(result.output)")
    }

    @Test(Capability.required(available && access(fashionMNIST, R_OK) == 0,
                              "needs .build-torch/venv and Debian's dataset-fashion-mnist (scripts/setup.sh --for-tests)"))
    func mnistTrainUnderStandaloneTorchrun() throws {
        let result = try torchrun(["--standalone"], [Products.path("mnist-train"), "--epochs", "1", "--steps-per-epoch", "40"])
        #expect(result.status == 0, "\(result.output)")
        #expect(result.output.contains("parameters identical on all 3 ranks"), "\(result.output)")
    }

    /// Two emulated hosts (network namespaces, 1 Gbit/s links), one torchrun in each starting
    /// 2 ranks, the two meeting at a c10d rendezvous endpoint on host 0, as one torchrun per node
    /// does on a cluster. Inside a namespace torch cannot tell its own address from the host
    /// name, so each torchrun is given it (`--local-addr`) and host 0 is told it hosts the
    /// rendezvous (`is_host=true`), as a cluster whose names do not resolve needs too.
    @Test(Capability.required(available && Capability.namespaces,
                              "needs .build-torch/venv, and root with iproute2 for the emulated hosts"))
    func acrossTwoEmulatedHostsWithATorchrunEach() throws {
        let cluster = try #require(EmulatedCluster.make(hosts: 2, rate: "1gbit"), "the emulated hosts could not be made")
        defer { cluster.remove() }
        let ip = String(EmulatedCluster.agent.split(separator: " ")[2])
        let endpoint = "\(cluster.address(0)):\(try freePort())"
        let results = Mutex<[Finished?]>([nil, nil])
        var threads: [SystemThread] = []
        for host in 0..<2 {
            let command = [ip, "netns", "exec", cluster.names[host], TorchBackendTests.torchrun, "--nnodes", "2", "--nproc-per-node", "2",
                           "--rdzv-backend", "c10d", "--rdzv-endpoint", endpoint, "--local-addr", cluster.address(host)]
                + (host == 0 ? ["--rdzv-conf", "is_host=true"] : [])
                + ["--no-python", Products.path("collectives-check"), "--collectives", "all", "--counts", "0", "3", "1001", "300007",
                   "--types", "float32", "--ops", "sum"]
            threads.append(SystemThread(name: "torchrun \(host)") {
                let outcome = (try? run(command, environment: ["COLLECTIVES_TIMEOUT": "60", "OMP_NUM_THREADS": "1", "COLLECTIVES_LOG_LEVEL": "debug"],
                                        timeout: 240)) ?? Finished(status: -1, output: "could not start")
                results.withLock { $0[host] = outcome }
            })
        }
        threads.forEach { $0.join() }
        let finished = results.withLock { $0.map { $0! } }
        for (host, result) in finished.enumerated() {
            #expect(result.status == 0, "host \(host):\n\(result.output)")
        }
        let output = finished.map(\.output).joined(separator: "\n")
        expectSummaries(output, ranks: 4, passed: allCollectivesChecks(counts: 4, opsPerType: [1]))
        #expect(output.contains("rank 0: shared memory with ranks [1] on this host, TCP with ranks [2, 3]"), "\(output)")
        #expect(output.contains("rank 3: shared memory with ranks [2] on this host, TCP with ranks [0, 1]"), "\(output)")
    }
}
