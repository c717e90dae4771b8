import CollectivesSystem
import CollectivesTransport

/// What every algorithm needs besides its buffers: the transport, the tag of this collective's
/// messages, its deadline, reusable memory and the pipelining settings.
///
/// Algorithms know ranks, tags and byte ranges, never sockets: they post sends and receives to
/// ``transport`` and wait for them.
struct Exchange {
    let transport: any Transport
    let tag: MessageTag
    let deadline: Deadline
    let workspace: Workspace
    /// Pipelined algorithms cut messages into segments of at most this many bytes.
    let segmentBytes: Int
    /// How many segments a pipelined algorithm receives ahead.
    let window: Int

    var rank: Int { transport.rank }
    var worldSize: Int { transport.worldSize }

    /// Whole elements of `elementSize` in one segment (at least one).
    func segmentElements(_ elementSize: Int) -> Int { Swift.max(1, segmentBytes / elementSize) }

    func postSend(_ base: UnsafeRawPointer, bytes: Int, to peer: Int) throws(TransportError) -> TransportRequest {
        try transport.postSend(UnsafeRawBufferPointer(start: base, count: bytes), to: peer, tag: tag)
    }

    func postReceive(_ base: UnsafeMutableRawPointer, bytes: Int, from peer: Int) throws(TransportError) -> TransportRequest {
        try transport.postReceive(into: UnsafeMutableRawBufferPointer(start: base, count: bytes), from: peer, tag: tag)
    }

    func wait(_ request: TransportRequest) throws(TransportError) {
        try transport.wait(request, deadline: deadline)
    }

    func send(_ base: UnsafeRawPointer, bytes: Int, to peer: Int) throws(TransportError) {
        try wait(postSend(base, bytes: bytes, to: peer))
    }

    func receive(_ base: UnsafeMutableRawPointer, bytes: Int, from peer: Int) throws(TransportError) {
        try wait(postReceive(base, bytes: bytes, from: peer))
    }

    /// Sends and receives with one peer at the same time (full duplex) and waits for both.
    func exchange(send: UnsafeRawPointer, receive: UnsafeMutableRawPointer, bytes: Int, with peer: Int) throws(TransportError) {
        try exchange(send: send, to: peer, receive: receive, from: peer, bytes: bytes)
    }

    /// Sends to one peer while receiving from another, and waits for both.
    func exchange(send: UnsafeRawPointer, to: Int, receive: UnsafeMutableRawPointer, from: Int, bytes: Int) throws(TransportError) {
        let r = try postReceive(receive, bytes: bytes, from: from)
        let s = try postSend(send, bytes: bytes, to: to)
        try wait(r)
        try wait(s)
    }

    /// Waits for every send collected in the workspace, then forgets them.
    func waitForSends() throws(TransportError) {
        for request in workspace.sends { try wait(request) }
        workspace.sends.removeAll(keepingCapacity: true)
    }
}
