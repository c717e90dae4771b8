import CollectivesBootstrap
import CollectivesRendezvous
import CollectivesSystem
import CollectivesTransport
import Logging

extension Communicator {
    /// Makes a communicator from the environment a launcher set (see `LaunchConfiguration`):
    /// `collectives-run`, torchrun, Slurm or OpenMPI variables, and `COLLECTIVES_TIMEOUT`.
    public static func fromEnvironment(options: CommunicatorOptions = CommunicatorOptions()) throws(CollectivesError) -> Communicator {
        let environment = ProcessEnvironment.current()
        let configuration: LaunchConfiguration
        do {
            configuration = try LaunchConfiguration.fromEnvironment(environment)
        } catch {
            throw CollectivesError(error, rank: nil, operation: "reading the environment")
        }
        var options = options
        try options.applyTuning(from: environment)
        return try Communicator(configuration: configuration, options: options)
    }

    /// Finds the other ranks through a TCP store at the configuration's master address (served
    /// by rank 0, or standalone when `LaunchConfiguration.externalStore` is set), connects to
    /// them, and chooses the transport of every pair (`Bootstrap` and `TransportFactory`, the
    /// layer below the collectives). The whole set-up is bounded by the configuration's timeout,
    /// and `options.timeoutSeconds` is set from it.
    public convenience init(configuration: LaunchConfiguration, options: CommunicatorOptions = CommunicatorOptions()) throws(CollectivesError) {
        var options = options
        options.timeoutSeconds = configuration.timeoutSeconds
        options.tcp.secret = configuration.jobSecret
        let settings = options.bootstrapSettings
        try self.init(bootstrapping: { () throws(BootstrapError) in try Bootstrap.connect(configuration: configuration, settings: settings) },
                      options: options)
    }
}

extension Communicator {
    /// Finds the other ranks through `store`, any `Store` every rank can reach: a
    /// `FileStore` in a directory they share (no server, no port), a `TCPStore` of the
    /// program's own, an `InMemoryStore` for ranks that are threads of one process. Then as
    /// ``init(configuration:options:)``: TCP between the ranks, shared memory or RDMA where
    /// ``CommunicatorOptions/transport`` allows. The set-up is bounded by
    /// `options.timeoutSeconds`; `COLLECTIVES_SOCKET_IFNAME` chooses the address each rank
    /// advertises (see `Bootstrap.connect(store:configuration:settings:)` for the default).
    ///
    /// The store must be this job's alone (a fresh directory, or a `PrefixStore` with a
    /// prefix unique to the job).
    public convenience init(store: any Store, rank: Int, worldSize: Int, options: CommunicatorOptions = CommunicatorOptions()) throws(CollectivesError) {
        let environment = ProcessEnvironment.current()
        var configuration = LaunchConfiguration(
            rank: rank, worldSize: worldSize, timeoutSeconds: options.timeoutSeconds,
            socketInterface: environment[EnvironmentVariable.socketInterface.name].flatMap { $0.isEmpty ? nil : $0 })
        configuration.jobSecret = options.tcp.secret
        configuration.localWorldSize = environment["LOCAL_WORLD_SIZE"].flatMap { Int($0) }
        configuration.localRank = environment["LOCAL_RANK"].flatMap { Int($0) }
        let settings = options.bootstrapSettings
        try self.init(bootstrapping: { () throws(BootstrapError) in
            try Bootstrap.connect(store: store, configuration: configuration, settings: settings)
        }, options: options)
    }

    /// Runs `connect`, timing it for the metrics and turning its error into a
    /// ``CollectivesError`` (counted as a failure), and makes the communicator over what it made.
    private convenience init(bootstrapping connect: () throws(BootstrapError) -> Bootstrapped, options: CommunicatorOptions) throws(CollectivesError) {
        let started = MonotonicClock.nanoseconds
        let bootstrapped: Bootstrapped
        do {
            bootstrapped = try connect()
        } catch {
            let failure = CollectivesError(error, operation: "bootstrap")
            CollectiveMetrics(factory: options.metricsFactory).recordFailure(failure.kind)
            throw failure
        }
        self.init(transport: bootstrapped.transport, options: options, bootstrapped: bootstrapped)
        metrics.recordBootstrap(nanoseconds: MonotonicClock.nanoseconds(since: started))
    }
}

extension CommunicatorOptions {
    /// What bootstrap needs of these settings.
    var bootstrapSettings: BootstrapSettings {
        var settings = BootstrapSettings(setUpTag: CallDescriptor(.setUp, sequence: 0).tag)
        settings.transport = transport
        settings.tcp = tcp
        settings.sharedMemory = sharedMemory
        settings.verbsDevice = verbsDevice
        let options = self
        settings.waitPolicy = { options.waitPolicy(localRanks: $0) }
        settings.logger = logger
        return settings
    }
}
