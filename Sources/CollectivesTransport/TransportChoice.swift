/// Which transport a communicator uses between its ranks.
public enum TransportChoice: String, Sendable, Hashable, CaseIterable {
    /// Shared memory between ranks on one host; between hosts, RDMA verbs where every rank has
    /// a device, else TCP.
    case auto
    /// TCP sockets, always.
    case tcp
    /// Shared memory; an error unless every rank is on one host.
    case shm
    /// RDMA verbs where a device exists; otherwise TCP, with one log line saying why.
    case verbs
}
