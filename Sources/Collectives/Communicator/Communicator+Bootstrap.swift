import CollectivesBootstrap
import CollectivesRendezvous
import CollectivesSystem
import CollectivesTransport
import Logging

extension Communicator {
    /// Makes a communicator from the environment a launcher set (see ``LaunchConfiguration``):
    /// `collectives-run`, torchrun, Slurm or OpenMPI variables, and `COLLECTIVES_TIMEOUT`.
    public static func fromEnvironment(options: CommunicatorOptions = CommunicatorOptions()) throws(CollectivesError) -> Communicator {
        let environment = ProcessEnvironment.current()
        let configuration: LaunchConfiguration
        do {
            configuration = try LaunchConfiguration.fromEnvironment(environment)
        } catch {
            throw CollectivesError(error, rank: -1, operation: "reading the environment")
        }
        var options = options
        try options.applyTuning(from: environment)
        return try Communicator(configuration: configuration, options: options)
    }

    /// Finds the other ranks through a TCP store at the configuration's master address (served
    /// by rank 0, or standalone when ``LaunchConfiguration/externalStore`` is set), connects to
    /// them, and chooses the transport of every pair (``Bootstrap`` and ``TransportFactory``, the
    /// layer below the collectives). The whole set-up is bounded by the configuration's timeout,
    /// and `options.timeoutSeconds` is set from it.
    public convenience init(configuration: LaunchConfiguration, options: CommunicatorOptions = CommunicatorOptions()) throws(CollectivesError) {
        var options = options
        options.timeoutSeconds = configuration.timeoutSeconds
        options.tcp.secret = configuration.jobSecret
        let bootstrapped: Bootstrapped
        do {
            bootstrapped = try Bootstrap.connect(configuration: configuration, settings: options.bootstrapSettings)
        } catch {
            throw CollectivesError(error, operation: "bootstrap")
        }
        self.init(transport: bootstrapped.transport, options: options, bootstrapped: bootstrapped)
    }
}

extension CommunicatorOptions {
    /// What bootstrap needs of these settings.
    var bootstrapSettings: BootstrapSettings {
        var settings = BootstrapSettings()
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
