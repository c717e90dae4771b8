import CollectivesSystem
import CollectivesTransport
import Logging

/// What bootstrap needs to know of a communicator's settings: which transport to prefer, each
/// transport's options, and how waits should use the cores.
public struct BootstrapSettings: Sendable {
    /// Which transport carries the data.
    public var transport: TransportChoice = .auto
    /// Settings of the TCP transport (its secret is the job's).
    public var tcp = TCPOptions()
    /// Settings of the shared-memory transport.
    public var sharedMemory = SharedMemoryOptions()
    /// The RDMA verbs calls to make (the library on this host by default).
    public var verbsDevice: any VerbsDevice = HardwareVerbsDevice.shared
    /// Which host this rank is on, for choosing shared memory, where the operator says so
    /// (`COLLECTIVES_HOST_ID` by default); `nil` lets the kernel's boot id and namespaces decide.
    public var hostID: String? = EnvironmentVariable.hostID.value
    /// The wait policy for a given number of ranks on this host.
    public var waitPolicy: @Sendable (_ localRanks: Int) -> WaitPolicy = { WaitPolicy.automatic(localRanks: $0) }
    /// Where to log.
    public var logger = Logger(label: "collectives")

    public init() {}
}
