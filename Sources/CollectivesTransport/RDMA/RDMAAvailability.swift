/// Whether RDMA verbs can be used on this machine, and why not.
public struct RDMAAvailability: Sendable {
    public var usable: Bool
    public var reason: String

    public static func probe() -> RDMAAvailability {
        RDMAAvailability(usable: false, reason: "no RDMA device")
    }
}
