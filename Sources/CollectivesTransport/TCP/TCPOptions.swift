import CollectivesSystem

/// Settings of the TCP transport.
public struct TCPOptions: Sendable, Hashable {
    /// Send and receive buffer size asked of the kernel for each data socket. Large buffers let a
    /// peer keep sending while this rank reduces; the kernel caps them at `net.core.wmem_max`.
    /// Zero leaves the sizes to the kernel's autotuning.
    public var socketBufferBytes: Int32 = 4 << 20

    /// How long one accepted connection may take to introduce itself before it is dropped.
    public var helloTimeoutSeconds: Double = 10

    /// How long a wait keeps checking its sockets before it sleeps in `poll`. Waking from
    /// `poll` costs tens of microseconds on virtual machines; a short spin pays for small
    /// messages when each rank has a core, and wastes the core when ranks share them.
    public var spinMicroseconds: Int = 0

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
