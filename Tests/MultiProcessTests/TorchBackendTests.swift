import CollectivesSystem
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// The PyTorch backend (python/) through torch's own API, in the environment
/// scripts/torch-env.sh makes (.build-torch/venv: torch 2.13 CPU and `pip install ./python`,
/// over this build's libSwiftCollectivesC). Each check is a Python program that computes its
/// expected values itself (python/tests/); these tests run them and read their verdicts.
@Suite struct TorchBackendTests {
    static var python: String { Products.repositoryRoot + "/.build-torch/venv/bin/python" }
    static var torchrun: String { Products.repositoryRoot + "/.build-torch/venv/bin/torchrun" }
    static func script(_ name: String) -> String { Products.repositoryRoot + "/python/tests/" + name }
    static var environment: Bool { access(python, X_OK) == 0 && access(torchrun, X_OK) == 0 }
    static let fashionMNIST = "/usr/share/datasets/fashion-mnist"
    /// One thread per rank for torch's own kernels, as torchrun sets; quiet about numpy.
    static let settings = ["OMP_NUM_THREADS": "1", "PYTHONWARNINGS": "ignore"]

    /// Every operation × element type through `torch.distributed` at 2, 3 and 4 ranks under
    /// torchrun: counts of 0, 1, below the ranks and 1001 (70,001 for float32 sums), in place and
    /// out, synchronous and started, contiguous and not; variable all-to-all; tagged sends;
    /// a second group made with `new_group`; and clear errors for what the library has not.
    @Test(Capability.required(environment, "needs scripts/torch-env.sh's .build-torch/venv"), arguments: [2, 3, 4])
    func everyOperationAndTypeUnderTorchrun(ranks: Int) throws {
        let result = try run([Self.torchrun, "--standalone", "--nproc-per-node", String(ranks), Self.script("check_backend.py")],
                             environment: Self.settings.merging(["COLLECTIVES_TIMEOUT": "60"]) { $1 }, timeout: 600)
        #expect(result.status == 0, "\(result.output)")
        for rank in 0..<ranks {
            #expect(result.output.contains("rank \(rank): backend ok"), "rank \(rank):\n\(result.output)")
        }
    }

    /// A rank SIGKILLed during an all-reduce: every other rank's call raises
    /// `DistBackendError` within the process group's timeout, naming the killed rank, and no
    /// process hangs.
    @Test(Capability.required(environment, "needs scripts/torch-env.sh's .build-torch/venv"), arguments: [3, 4])
    func aKilledRankMakesTheOthersRaiseNamingIt(ranks: Int) throws {
        let result = try run([Self.python, Self.script("check_failure.py"), String(ranks)], environment: Self.settings, timeout: 200)
        #expect(result.status == 0 && result.output.contains("failure ok"), "\(result.output)")
    }

    /// DDP on the demo's model and Fashion-MNIST for 2 epochs: identical parameters on every
    /// rank, and the test accuracy of Gloo's run within 0.5 points.
    @Test(Capability.required(environment && access(fashionMNIST, R_OK) == 0,
                              "needs .build-torch/venv and Debian's dataset-fashion-mnist (scripts/setup.sh --for-tests)"))
    func ddpMatchesGlooWithIdenticalParametersOnEveryRank() throws {
        let result = try run([Self.python, Self.script("check_ddp.py"), "2", "2"], environment: Self.settings, timeout: 900)
        #expect(result.status == 0 && result.output.contains("ddp ok"), "\(result.output)")
    }
}
