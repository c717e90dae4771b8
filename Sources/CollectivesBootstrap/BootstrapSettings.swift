import CollectivesSystem
import CollectivesTransport
import Logging

/// What bootstrap needs to know of a communicator's settings: which transport to prefer, each
/// transport's options, and how waits should use the cores.
package struct BootstrapSettings: Sendable {
    /// Which transport carries the data.
    package var transport: TransportChoice = .auto
    /// Settings of the TCP transport (its secret is the job's).
    package var tcp = TCPOptions()
    /// Settings of the shared-memory transport.
    package var sharedMemory = SharedMemoryOptions()
    /// The RDMA verbs calls to make (the library on this host by default).
    package var verbsDevice: any VerbsDevice = HardwareVerbsDevice.shared
    /// Which host this rank is on, for choosing shared memory, where the operator says so
    /// (`COLLECTIVES_HOST_ID` by default); `nil` lets the kernel's boot id and namespaces decide.
    package var hostID: String? = EnvironmentVariable.hostID.value
    /// The wait policy for a given number of ranks on this host.
    package var waitPolicy: @Sendable (_ localRanks: Int) -> WaitPolicy = { WaitPolicy.automatic(localRanks: $0) }
    /// Where to log.
    package var logger = Logger(label: "collectives")

    /// The tag of the set-up exchanges' messages, from the numbering of the layer above (a
    /// communicator's kind "set-up" at sequence 0, before any collective).
    package var setUpTag: MessageTag

    package init(setUpTag: MessageTag) { self.setUpTag = setUpTag }
}
