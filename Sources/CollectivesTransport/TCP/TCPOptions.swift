/// Settings of the TCP transport.
public struct TCPOptions: Sendable, Hashable {
    /// Send and receive buffer size asked of the kernel for each data socket. Large buffers let a
    /// peer keep sending while this rank reduces; the kernel caps them at `net.core.wmem_max`.
    public var socketBufferBytes: Int32 = 4 << 20

    /// How long one accepted connection may take to introduce itself before it is dropped.
    public var helloTimeoutSeconds: Double = 10

    public init() {}
}
