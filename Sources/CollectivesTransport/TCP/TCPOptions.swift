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

    public init() {}
}
