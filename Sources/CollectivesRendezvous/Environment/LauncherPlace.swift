import CollectivesSystem

/// Where a launcher put this process: its rank, the world's size, its rank on the host, and
/// the master's address and port where the launcher names them, read from the variables of
/// whichever launcher started it.
struct LauncherPlace {
    var source: LaunchConfiguration.Source
    var rank: Int
    var worldSize: Int
    var localRank: Int?
    var address: String?
    var port: UInt16?

    init(_ env: LaunchConfiguration.Reader) throws(RendezvousError) {
        address = env["MASTER_ADDR"]
        port = try env.port("MASTER_PORT")
        if env["RANK"] != nil || env["WORLD_SIZE"] != nil {
            source = .torchrun
            rank = try env.integer("RANK", minimum: 0)
            worldSize = try env.integer("WORLD_SIZE", minimum: 1)
            localRank = try env.optionalInteger("LOCAL_RANK")
        } else if env["OMPI_COMM_WORLD_RANK"] != nil {
            source = .openMPI
            rank = try env.integer("OMPI_COMM_WORLD_RANK", minimum: 0)
            worldSize = try env.integer("OMPI_COMM_WORLD_SIZE", minimum: 1)
            localRank = try env.optionalInteger("OMPI_COMM_WORLD_LOCAL_RANK")
        } else if env["PMI_RANK"] != nil {
            source = .hydra
            rank = try env.integer("PMI_RANK", minimum: 0)
            worldSize = try env.integer("PMI_SIZE", minimum: 1)
            // Hydra sets MPI_LOCALRANKID; PMI-2 and PMIx launchers set PMI_LOCAL_RANK.
            let hydraLocal = try env.optionalInteger("MPI_LOCALRANKID")
            let pmiLocal = try env.optionalInteger("PMI_LOCAL_RANK")
            localRank = hydraLocal ?? pmiLocal
        } else if env["SLURM_PROCID"] != nil {
            source = .slurm
            rank = try env.integer("SLURM_PROCID", minimum: 0)
            worldSize = try env.integer("SLURM_NTASKS", minimum: 1)
            localRank = try env.optionalInteger("SLURM_LOCALID")
            try readSlurmMaster(env)
        } else {
            throw .invalidEnvironment(variable: "RANK", value: nil,
                                      expected: "a rank from a launcher: RANK and WORLD_SIZE (collectives-run, torchrun), SLURM_PROCID (srun), OMPI_COMM_WORLD_RANK (OpenMPI's mpirun) or PMI_RANK (MPICH's and Intel MPI's mpiexec)")
        }
    }

    /// Under Slurm without `MASTER_ADDR` and `MASTER_PORT`: the job's first node, and a port
    /// from the job's id.
    private mutating func readSlurmMaster(_ env: LaunchConfiguration.Reader) throws(RendezvousError) {
        if address == nil {
            let variable = env["SLURM_JOB_NODELIST"] != nil ? "SLURM_JOB_NODELIST" : "SLURM_NODELIST"
            guard let list = env[variable] else {
                throw .invalidEnvironment(variable: "SLURM_JOB_NODELIST", value: nil,
                                          expected: "Slurm's node list (or set MASTER_ADDR)")
            }
            guard let first = SlurmNodeList.firstHost(list) else {
                throw .invalidEnvironment(variable: variable, value: list, expected: "a Slurm host list such as node[01-04,07]")
            }
            address = first
        }
        if port == nil {
            let job = try env.integer("SLURM_JOB_ID", minimum: 0)
            port = UInt16(20000 + job % 10000)
        }
    }
}
