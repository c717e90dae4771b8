import CollectivesSystem

/// Settings of the TCP transport.
public struct TCPOptions: Sendable, Hashable {
    /// Send and receive buffer size asked of the kernel for each data socket. Large buffers let a
    /// peer keep sending while this rank reduces; the kernel caps them at `net.core.wmem_max`.
    /// Zero leaves the sizes to the kernel's autotuning.
    public var socketBufferBytes: Int32 = 4 << 20

    /// How long one accepted connection may take to introduce itself before it is dropped.
    public var helloTimeoutSeconds: Double = 10

    /// How waits spin, yield and sleep. Default: sleep at once; a communicator sets it from the
    /// number of ranks on this host (``WaitPolicy/automatic(localRanks:cores:)``).
    public var waitPolicy: WaitPolicy = .sleep

    /// Connections per pair of ranks. Messages of at least ``stripeThresholdBytes`` are cut into
    /// this many stripes, one per connection, and reassembled in place; smaller ones use the
    /// first. Default 1, the best on the machines measured (see docs/transports.md);
    /// `COLLECTIVES_TCP_STREAMS` sets it (the same on every rank).
    public var streams: Int = 1

    /// The smallest message that is striped when ``streams`` > 1. Default 256 KiB.
    public var stripeThresholdBytes: Int = 256 << 10

    /// The job's secret: each data connection's handshake proves both ends know it (mutual
    /// HMAC challenge), and a connection that cannot is refused and logged.
    public var secret: JobSecret = .none

    public init() {}
}
