import CollectivesSystem
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

    /// Runs `program` under torchrun with `launch` (its rendezvous options) and 3 ranks.
    func torchrun(_ launch: [String], _ program: [String], timeout: Double = 300) throws -> Finished {
        try run([TorchBackendTests.torchrun] + launch + ["--nproc-per-node", "3", "--no-python"] + program,
                environment: ["COLLECTIVES_TIMEOUT": "60", "OMP_NUM_THREADS": "1"], timeout: timeout)
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
}
