import CollectivesSystem

/// The transport of a world of one rank: there is no one to talk to, so every post is an error.
/// Collectives return before they reach it.
public final class SingleRankTransport: Transport {
    public var rank: Int { 0 }
    public var worldSize: Int { 1 }
    public var name: String { "none" }

    public init() {}

    public func postSend(_ buffer: UnsafeRawBufferPointer, to peer: Int, tag: MessageTag) throws(TransportError) -> TransportRequest {
        throw TransportError(.invalidArgument("a world of one rank has no peers"), rank: 0, peer: peer, operation: "send")
    }

    public func postReceive(into buffer: UnsafeMutableRawBufferPointer, from peer: Int, tag: MessageTag) throws(TransportError) -> TransportRequest {
        throw TransportError(.invalidArgument("a world of one rank has no peers"), rank: 0, peer: peer, operation: "receive")
    }

    public func wait(_ request: TransportRequest, deadline: Deadline) throws(TransportError) {
        throw TransportError(.invalidArgument("unknown request"), rank: 0, peer: nil, operation: "wait")
    }

    public func close() {}
}
