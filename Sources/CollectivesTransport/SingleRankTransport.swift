import CollectivesSystem

/// The transport of a world of one rank: there is no one to talk to, so every post is an error.
/// Collectives return before they reach it.
package final class SingleRankTransport: Transport {
    package var rank: Int { 0 }
    package var worldSize: Int { 1 }
    package var name: String { "none" }

    package init() {}

    package func postSend(_ buffer: UnsafeRawBufferPointer, to peer: Int, tag: MessageTag) throws(TransportError) -> TransportRequest {
        throw TransportError(.invalidArgument("a world of one rank has no peers"), rank: 0, peer: peer, operation: "send")
    }

    package func postReceive(into buffer: UnsafeMutableRawBufferPointer, from peer: Int, tag: MessageTag) throws(TransportError) -> TransportRequest {
        throw TransportError(.invalidArgument("a world of one rank has no peers"), rank: 0, peer: peer, operation: "receive")
    }

    package func wait(_ request: TransportRequest, deadline: Deadline) throws(TransportError) {
        throw TransportError(.invalidArgument("unknown request"), rank: 0, peer: nil, operation: "wait")
    }

    package func close() {}
}
