import CollectivesRendezvous
import Testing

@Suite struct LaunchConfigurationTests {
    @Test func torchrunVariables() throws {
        let c = try LaunchConfiguration.fromEnvironment([
            "RANK": "3", "WORLD_SIZE": "4", "LOCAL_RANK": "1", "MASTER_ADDR": "node7", "MASTER_PORT": "1234",
            "COLLECTIVES_TIMEOUT": "12.5", "COLLECTIVES_SOCKET_IFNAME": "eth1",
        ])
        #expect(c.rank == 3 && c.worldSize == 4 && c.localRank == 1)
        #expect(c.masterAddress == "node7" && c.masterPort == 1234)
        #expect(c.timeoutSeconds == 12.5 && c.socketInterface == "eth1" && c.source == .torchrun)
        #expect(!c.externalStore)
        let external = try LaunchConfiguration.fromEnvironment(["RANK": "0", "WORLD_SIZE": "2", "MASTER_ADDR": "a", "COLLECTIVES_STORE": "external"])
        #expect(external.externalStore)
    }

    /// A joiner finds the job's store where the job's ranks do, and is told which variable is
    /// missing or malformed.
    @Test func aJoinerReadsTheStoreEndpointAsTheRanksDo() throws {
        let endpoint = try LaunchConfiguration.storeEndpoint(in: ["MASTER_ADDR": "node7", "MASTER_PORT": " 1234"])
        #expect(endpoint.host == "node7" && endpoint.port == 1234)
        for (environment, variable) in [(["MASTER_PORT": "1234"], "MASTER_ADDR"), (["MASTER_ADDR": "", "MASTER_PORT": "1234"], "MASTER_ADDR"),
                                        (["MASTER_ADDR": "node7"], "MASTER_PORT"), (["MASTER_ADDR": "node7", "MASTER_PORT": "0"], "MASTER_PORT"),
                                        (["MASTER_ADDR": "node7", "MASTER_PORT": "70000"], "MASTER_PORT")] {
            do {
                _ = try LaunchConfiguration.storeEndpoint(in: environment)
                Issue.record("\(environment) was accepted")
            } catch {
                guard case .invalidEnvironment(let named, _, _) = error else {
                    Issue.record("\(environment): \(error)")
                    continue
                }
                #expect(named == variable, "\(environment)")
            }
        }
    }

    @Test func slurmWithoutMasterAddressUsesTheFirstNode() throws {
        let c = try LaunchConfiguration.fromEnvironment([
            "SLURM_PROCID": "5", "SLURM_NTASKS": "8", "SLURM_LOCALID": "1",
            "SLURM_JOB_NODELIST": "gpu[07-09,12],login1", "SLURM_JOB_ID": "123456",
        ])
        #expect(c.rank == 5 && c.worldSize == 8 && c.localRank == 1 && c.source == .slurm)
        #expect(c.masterAddress == "gpu07")
        #expect(c.masterPort == 20000 + 123456 % 10000)
    }

    @Test func openMPIVariables() throws {
        let c = try LaunchConfiguration.fromEnvironment([
            "OMPI_COMM_WORLD_RANK": "0", "OMPI_COMM_WORLD_SIZE": "2", "OMPI_COMM_WORLD_LOCAL_RANK": "0",
            "MASTER_ADDR": "10.1.2.3",
        ])
        #expect(c.rank == 0 && c.worldSize == 2 && c.source == .openMPI && c.masterPort == 29500)
    }

    /// MPICH's and Intel MPI's `mpiexec.hydra` (the variables as hydra 4.0 sets them).
    @Test func hydraVariables() throws {
        let c = try LaunchConfiguration.fromEnvironment([
            "PMI_RANK": "3", "PMI_SIZE": "4", "PMI_FD": "6", "MPI_LOCALRANKID": "1", "MPI_LOCALNRANKS": "2",
            "MASTER_ADDR": "10.1.2.3", "MASTER_PORT": "29600",
        ])
        #expect(c.rank == 3 && c.worldSize == 4 && c.localRank == 1 && c.source == .hydra && c.masterPort == 29600)
        // PMI-2 and PMIx launchers say the local rank as PMI_LOCAL_RANK.
        let pmi = try LaunchConfiguration.fromEnvironment(["PMI_RANK": "2", "PMI_SIZE": "4", "PMI_LOCAL_RANK": "0", "MASTER_ADDR": "a"])
        #expect(pmi.rank == 2 && pmi.worldSize == 4 && pmi.localRank == 0 && pmi.source == .hydra)
        let error = #expect(throws: RendezvousError.self) {
            _ = try LaunchConfiguration.fromEnvironment(["PMI_RANK": "0", "MASTER_ADDR": "a"])
        }
        #expect(error?.description.contains("PMI_SIZE") == true, "\(String(describing: error))")
    }

    @Test(arguments: [
        (["WORLD_SIZE": "4", "MASTER_ADDR": "a"], "RANK"),
        (["RANK": "0", "MASTER_ADDR": "a"], "WORLD_SIZE"),
        (["RANK": "x", "WORLD_SIZE": "4", "MASTER_ADDR": "a"], "RANK=\"x\""),
        (["RANK": "0", "WORLD_SIZE": "4"], "MASTER_ADDR"),
        (["RANK": "0", "WORLD_SIZE": "4", "MASTER_ADDR": "a", "MASTER_PORT": "99999"], "MASTER_PORT"),
        (["RANK": "0", "WORLD_SIZE": "4", "MASTER_ADDR": "a", "COLLECTIVES_TIMEOUT": "-1"], "COLLECTIVES_TIMEOUT"),
        (["RANK": "4", "WORLD_SIZE": "4", "MASTER_ADDR": "a"], "rank 4 is outside the world"),
        (["OMPI_COMM_WORLD_RANK": "0", "OMPI_COMM_WORLD_SIZE": "2"], "MASTER_ADDR"),
        (["SLURM_PROCID": "0", "SLURM_NTASKS": "2", "SLURM_JOB_NODELIST": "n[1-", "SLURM_JOB_ID": "1"], "SLURM_JOB_NODELIST"),
        ([String: String](), "RANK"),
        (["RANK": "0", "WORLD_SIZE": "2", "MASTER_ADDR": "a", "COLLECTIVES_STORE": "elsewhere"], "COLLECTIVES_STORE"),
    ])
    func badEnvironmentNamesTheVariable(environment: [String: String], mentioned: String) {
        let error = #expect(throws: RendezvousError.self) { try LaunchConfiguration.fromEnvironment(environment) }
        #expect(error?.description.contains(mentioned) == true, "\(String(describing: error))")
    }

    /// A configuration the variables make inconsistent says so once, with where it came from.
    @Test func anInconsistentConfigurationIsSaidOnce() {
        let error = #expect(throws: RendezvousError.self) {
            try LaunchConfiguration.fromEnvironment(["RANK": "4", "WORLD_SIZE": "4", "MASTER_ADDR": "a"])
        }
        #expect(error?.description == "invalid configuration: rank 4 is outside the world of 4 ranks (0..<4) (from torchrun variables)",
                "\(String(describing: error))")
    }

    @Test func slurmNodeLists() {
        #expect(SlurmNodeList.expand("node[01-04,07]") == ["node01", "node02", "node03", "node04", "node07"])
        #expect(SlurmNodeList.expand("a,b[1-2]") == ["a", "b1", "b2"])
        #expect(SlurmNodeList.expand("r[1-2]n[08-09]") == ["r1n08", "r1n09", "r2n08", "r2n09"])
        #expect(SlurmNodeList.expand("single") == ["single"])
        #expect(SlurmNodeList.expand("bad[") == nil)
        #expect(SlurmNodeList.expand("bad[3-1]") == nil)
        #expect(SlurmNodeList.expand("") == nil)
    }
}
