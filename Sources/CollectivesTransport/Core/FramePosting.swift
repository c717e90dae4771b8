/// A transport whose sends and receives become frames in its peers' queues (shared memory,
/// verbs): posting either is one call, ``postFrame(at:count:tag:peer:isSend:)``, which admits the
/// frame under the transport's lock and starts what can start at once.
package protocol FramePosting: Transport {
    /// Admits a frame of `count` bytes at `base` for `peer` (a send, or a receive into it).
    func postFrame(at base: UnsafeMutableRawPointer?, count: Int, tag: MessageTag, peer: Int,
                   isSend: Bool) throws(TransportError) -> TransportRequest
}

extension FramePosting {
    package func postSend(_ buffer: UnsafeRawBufferPointer, to peer: Int, tag: MessageTag) throws(TransportError) -> TransportRequest {
        try postFrame(at: UnsafeMutableRawPointer(mutating: buffer.baseAddress), count: buffer.count, tag: tag, peer: peer, isSend: true)
    }

    package func postReceive(into buffer: UnsafeMutableRawBufferPointer, from peer: Int, tag: MessageTag) throws(TransportError) -> TransportRequest {
        try postFrame(at: buffer.baseAddress, count: buffer.count, tag: tag, peer: peer, isSend: false)
    }
}
