import CollectivesSystem

/// Who this process is in a job and where the job meets: read from the environment that a
/// launcher sets (`collectives-run`, torchrun, Slurm's `srun`, OpenMPI's `mpirun`).
///
/// | launcher | rank | world size | local rank | store address |
/// |----------|------|------------|------------|---------------|
/// | torchrun, `collectives-run` | `RANK` | `WORLD_SIZE` | `LOCAL_RANK` | `MASTER_ADDR`, `MASTER_PORT` |
/// | Slurm | `SLURM_PROCID` | `SLURM_NTASKS` | `SLURM_LOCALID` | `MASTER_ADDR`/`MASTER_PORT`, else the first host of `SLURM_JOB_NODELIST` at port 20000 + `SLURM_JOB_ID` mod 10000 |
/// | OpenMPI | `OMPI_COMM_WORLD_RANK` | `OMPI_COMM_WORLD_SIZE` | `OMPI_COMM_WORLD_LOCAL_RANK` | `MASTER_ADDR`, `MASTER_PORT` |
///
/// Our own settings: `COLLECTIVES_TIMEOUT` (seconds, bounds every wait; default 300),
/// `COLLECTIVES_SOCKET_IFNAME` (the interface whose address this rank advertises),
/// `COLLECTIVES_STORE` (`rank0`, the default, or `external` when a standalone store serves the job),
/// `COLLECTIVES_STORE_PORT` (the store's port, instead of `MASTER_PORT`; under torchrun's elastic
/// agent, `TORCHELASTIC_USE_AGENT_STORE=True`, the default is `MASTER_PORT + 1`, because the agent
/// serves its own store on `MASTER_PORT`), `COLLECTIVES_JOB_SECRET` (the job's shared secret), `COLLECTIVES_REQUIRE_SECRET=1` (refuse to
/// start without one), `COLLECTIVES_STORE_BIND` (what rank 0's store listens on when it is not
/// `MASTER_ADDR`: `any`, or an address of this host).
public struct LaunchConfiguration: Sendable, Hashable {
    /// Which launcher's variables were read.
    public enum Source: String, Sendable {
        case torchrun, slurm, openMPI = "OpenMPI", explicit
        /// MPICH's and Intel MPI's launcher (`mpiexec.hydra`): `PMI_RANK`, `PMI_SIZE`,
        /// `MPI_LOCALRANKID` (or `PMI_LOCAL_RANK`), `MPI_LOCALNRANKS`.
        case hydra = "MPICH hydra"
    }

    public var rank: Int
    public var worldSize: Int
    public var localRank: Int?
    /// Host name or address of the rendezvous store, served by rank 0.
    public var masterAddress: String
    public var masterPort: UInt16
    /// ``timeout`` in seconds, as the library reads it.
    package var timeoutSeconds: Double
    /// The network interface whose address this rank advertises to its peers.
    public var socketInterface: String?
    public var source: Source
    /// The store is served by someone else (`COLLECTIVES_STORE=external`, set by
    /// `collectives-run`, which serves it itself), so rank 0 does not start one.
    public var externalStore: Bool = false
    /// The job's secret (`COLLECTIVES_JOB_SECRET`): the store and every data connection check
    /// that each process knows it. Without one, only processes without one are accepted.
    public var jobSecret: JobSecret = .none
    /// Refuse to start without a job secret (`COLLECTIVES_REQUIRE_SECRET=1`).
    public var requiresSecret: Bool = false
    /// Ports for every listening socket (`COLLECTIVES_PORT_RANGE=lo-hi`): each rank's data port,
    /// and the store's when its port is not given.
    public var portRange: PortRange?
    /// Ranks on this host, from the launcher's variables (`LOCAL_WORLD_SIZE`,
    /// `OMPI_COMM_WORLD_LOCAL_SIZE`, `SLURM_STEP_TASKS_PER_NODE` with `SLURM_NODEID`); `nil` when
    /// none says, and the communicator learns it from the ranks' host identities.
    public var localWorldSize: Int?
    /// Where rank 0's store listens, when not on `MASTER_ADDR` itself (`COLLECTIVES_STORE_BIND`):
    /// `"any"` for every interface, or an address of this host. Without it, an address of
    /// `MASTER_ADDR` that this host cannot bind is an error, never a silent bind to every interface.
    public var storeBindAddress: String?

    /// Bounds every blocking wait, rendezvous included.
    public var timeout: Duration {
        get { Duration(seconds: timeoutSeconds) }
        set { timeoutSeconds = newValue.inSeconds }
    }

    /// The default for `COLLECTIVES_TIMEOUT`.
    public static let defaultTimeout: Duration = .seconds(300)
    /// ``defaultTimeout`` in seconds.
    package static let defaultTimeoutSeconds: Double = 300
    /// The default `MASTER_PORT` when a launcher gives none (torchrun's default).
    public static let defaultPort: UInt16 = 29500

    public init(rank: Int, worldSize: Int, localRank: Int? = nil, masterAddress: String = "127.0.0.1",
                masterPort: UInt16 = LaunchConfiguration.defaultPort,
                timeout: Duration = LaunchConfiguration.defaultTimeout,
                socketInterface: String? = nil, source: Source = .explicit) {
        self.init(rank: rank, worldSize: worldSize, localRank: localRank, masterAddress: masterAddress, masterPort: masterPort,
                  timeoutSeconds: timeout.inSeconds, socketInterface: socketInterface, source: source)
    }

    /// Like the public initializer, with the timeout in seconds.
    package init(rank: Int, worldSize: Int, localRank: Int? = nil, masterAddress: String = "127.0.0.1",
                 masterPort: UInt16 = LaunchConfiguration.defaultPort,
                 timeoutSeconds: Double,
                 socketInterface: String? = nil, source: Source = .explicit) {
        self.rank = rank
        self.worldSize = worldSize
        self.localRank = localRank
        self.masterAddress = masterAddress
        self.masterPort = masterPort
        self.timeoutSeconds = timeoutSeconds
        self.socketInterface = socketInterface
        self.source = source
    }

    /// Checks that the rank is inside the world.
    public func validate() throws(RendezvousError) {
        guard worldSize >= 1 else {
            throw .invalidConfiguration("world size \(worldSize) must be at least 1")
        }
        guard rank >= 0, rank < worldSize else {
            throw .invalidConfiguration("rank \(rank) is outside the world of \(worldSize) ranks (0..<\(worldSize))")
        }
        guard timeoutSeconds > 0 else {
            throw .invalidConfiguration("timeout \(timeoutSeconds) s must be positive")
        }
        guard !requiresSecret || jobSecret.isSet || worldSize == 1 else {
            throw .invalidConfiguration("COLLECTIVES_REQUIRE_SECRET=1, but COLLECTIVES_JOB_SECRET is not set: "
                + "set it to the same random value on every rank (for example `openssl rand -hex 32`)")
        }
    }

    /// Reads the configuration from the process's environment.
    ///
    /// A variable that is missing where one is needed, or malformed, is
    /// ``RendezvousError/invalidEnvironment(variable:value:expected:)`` naming it.
    public static func fromEnvironment() throws(RendezvousError) -> LaunchConfiguration {
        try fromEnvironment(ProcessEnvironment.current())
    }

    /// Reads the configuration from `environment`, a table of variables like the process's.
    public static func fromEnvironment(_ environment: [String: String]) throws(RendezvousError) -> LaunchConfiguration {
        let env = Reader(environment)
        let place = try LauncherPlace(env)
        guard let masterAddress = place.address, !masterAddress.isEmpty else {
            throw .invalidEnvironment(variable: "MASTER_ADDR", value: place.address,
                                      expected: "the host name or address of rank 0 (where the rendezvous store runs)")
        }
        var configuration = LaunchConfiguration(
            rank: place.rank, worldSize: place.worldSize, localRank: place.localRank, masterAddress: masterAddress,
            masterPort: try storePort(env, masterPort: place.port ?? defaultPort),
            timeoutSeconds: try timeoutSeconds(setIn: environment) ?? defaultTimeoutSeconds,
            socketInterface: env[EnvironmentVariable.socketInterface.name].flatMap { $0.isEmpty ? nil : $0 }, source: place.source)
        try configuration.readStoreSettings(env)
        configuration.localWorldSize = try localWorldSize(env, source: place.source)
        do {
            try configuration.validate()
        } catch {
            // The reason itself, said once, with where it came from.
            guard case .invalidConfiguration(let why) = error else {
                throw .invalidConfiguration("\(error) (from \(place.source.rawValue) variables)")
            }
            throw .invalidConfiguration("\(why) (from \(place.source.rawValue) variables)")
        }
        return configuration
    }

    /// Where a launcher's store is, as its ranks read it: `MASTER_ADDR` (required) and
    /// `MASTER_PORT` (a TCP port, required), for a process that joins the job from outside.
    package static func storeEndpoint(in environment: [String: String]) throws(RendezvousError) -> (host: String, port: UInt16) {
        let env = Reader(environment)
        guard let host = env["MASTER_ADDR"], !host.isEmpty else {
            throw .invalidEnvironment(variable: "MASTER_ADDR", value: nil, expected: "the host of the job's store")
        }
        guard let port = try env.port("MASTER_PORT") else {
            throw .invalidEnvironment(variable: "MASTER_PORT", value: nil, expected: "a TCP port from 1 to 65535")
        }
        return (host, port)
    }

    /// `COLLECTIVES_TIMEOUT` in `environment`, `nil` where unset; anything but a positive
    /// number of seconds is ``RendezvousError/invalidEnvironment(variable:value:expected:)``.
    /// Every reader of the variable reads it here.
    package static func timeoutSeconds(setIn environment: [String: String]) throws(RendezvousError) -> Double? {
        guard let text = environment[EnvironmentVariable.timeout.name] else { return nil }
        guard let value = Double(text), value > 0, value.isFinite else {
            throw .invalidEnvironment(variable: EnvironmentVariable.timeout.name, value: text, expected: "a positive number of seconds")
        }
        return value
    }

    /// The variables that carry a process's rank, one per launcher, in the order they are
    /// read: collectives-run's and torchrun's, OpenMPI's, MPICH's (Hydra) and Slurm's.
    package static let rankVariables = ["RANK", "OMPI_COMM_WORLD_RANK", "PMI_RANK", "SLURM_PROCID"]

    /// The rank a launcher gave this process, as written, if one did.
    package static func launcherRank(in environment: [String: String]) -> String? {
        rankVariables.lazy.compactMap { environment[$0] }.first
    }

    /// Where the job's store listens: `masterPort`, unless `COLLECTIVES_STORE_PORT` says
    /// otherwise, or torchrun's elastic agent already serves its own store there
    /// (`TORCHELASTIC_USE_AGENT_STORE=True`): then the next port.
    private static func storePort(_ env: Reader, masterPort: UInt16) throws(RendezvousError) -> UInt16 {
        if let explicit = try env.port(EnvironmentVariable.storePort.name) { return explicit }
        guard env["TORCHELASTIC_USE_AGENT_STORE"]?.lowercased() == "true" else { return masterPort }
        guard masterPort < UInt16.max else {
            throw .invalidEnvironment(variable: "MASTER_PORT", value: String(masterPort),
                                      expected: "a port below 65535 (torchrun's agent serves MASTER_PORT; this job's store takes the next one)")
        }
        return masterPort + 1
    }

    /// The secret, the store's binding, port range and server from their variables.
    private mutating func readStoreSettings(_ env: Reader) throws(RendezvousError) {
        if let secret = env[EnvironmentVariable.jobSecret.name], !secret.isEmpty { jobSecret = JobSecret(secret) }
        switch env[EnvironmentVariable.requireSecret.name] {
        case nil, "", "0": requiresSecret = false
        case "1": requiresSecret = true
        case let other?:
            throw .invalidEnvironment(variable: EnvironmentVariable.requireSecret.name, value: other, expected: "1 (refuse to start without COLLECTIVES_JOB_SECRET) or 0")
        }
        if let bind = env[EnvironmentVariable.storeBind.name], !bind.isEmpty { storeBindAddress = bind }
        if let text = env[EnvironmentVariable.portRange.name], !text.isEmpty {
            guard let range = PortRange(text) else {
                throw .invalidEnvironment(variable: EnvironmentVariable.portRange.name, value: text, expected: "lo-hi, two ports with 1 ≤ lo ≤ hi ≤ 65535")
            }
            portRange = range
        }
        switch env[EnvironmentVariable.store.name] {
        case nil, "", "rank0": externalStore = false
        case "external": externalStore = true
        case let other?:
            throw .invalidEnvironment(variable: EnvironmentVariable.store.name, value: other,
                                      expected: "rank0 (rank 0 serves the store, the default) or external (it is already served)")
        }
    }

    /// Ranks on this host as the launcher says, if it does.
    private static func localWorldSize(_ env: Reader, source: Source) throws(RendezvousError) -> Int? {
        switch source {
        case .openMPI:
            return try env.optionalInteger("OMPI_COMM_WORLD_LOCAL_SIZE").flatMap { $0 > 0 ? $0 : nil }
        case .hydra:
            return try env.optionalInteger("MPI_LOCALNRANKS").flatMap { $0 > 0 ? $0 : nil }
        case .slurm:
            guard let text = env["SLURM_STEP_TASKS_PER_NODE"] ?? env["SLURM_TASKS_PER_NODE"],
                  let node = try env.optionalInteger("SLURM_NODEID") else { return nil }
            guard let counts = SlurmTasksPerNode.expand(text) else {
                throw .invalidEnvironment(variable: "SLURM_STEP_TASKS_PER_NODE", value: text, expected: "Slurm's tasks per node, like 4(x2),3")
            }
            return node < counts.count ? counts[node] : nil
        default:
            return try env.optionalInteger("LOCAL_WORLD_SIZE").flatMap { $0 > 0 ? $0 : nil }
        }
    }

    struct Reader {
        let values: [String: String]
        init(_ values: [String: String]) { self.values = values }
        subscript(_ name: String) -> String? { values[name] }

        func integer(_ name: String, minimum: Int) throws(RendezvousError) -> Int {
            guard let text = values[name] else {
                throw .invalidEnvironment(variable: name, value: nil, expected: "an integer ≥ \(minimum)")
            }
            guard let value = Int(text.trimmingSpaces()), value >= minimum else {
                throw .invalidEnvironment(variable: name, value: text, expected: "an integer ≥ \(minimum)")
            }
            return value
        }

        func optionalInteger(_ name: String) throws(RendezvousError) -> Int? {
            guard values[name] != nil else { return nil }
            return try integer(name, minimum: 0)
        }

        func port(_ name: String) throws(RendezvousError) -> UInt16? {
            guard let text = values[name] else { return nil }
            guard let value = UInt16(text.trimmingSpaces()), value > 0 else {
                throw .invalidEnvironment(variable: name, value: text, expected: "a TCP port from 1 to 65535")
            }
            return value
        }
    }
}

extension String {
    fileprivate func trimmingSpaces() -> Substring {
        let start = firstIndex { $0 != " " } ?? endIndex
        let end = lastIndex { $0 != " " }.map { index(after: $0) } ?? start
        return self[start..<max(start, end)]
    }
}
