import CollectivesSystem
import CollectivesTransport

/// The parameter-server pattern: every rank sends its whole buffer to one root, which combines
/// them; the root sends a buffer to every rank. The root's link carries (n − 1) · N bytes each
/// way, which is the bottleneck a ring all-reduce removes. It exists as a baseline to measure
/// against, and for broadcasts of parameters at start-up.
enum CentralServer {
    /// Combines every rank's buffer into the root's, in rank order (so the result does not
    /// depend on arrival order). Other ranks' buffers are left as they were.
    static func reduce(
        buffer: UnsafeMutableRawPointer?, count: Int, elementSize: Int, kernel: ReductionKernel, root: Int,
        transport: any Transport, tag: UInt64, deadline: Deadline, workspace: Workspace
    ) throws(TransportError) {
        let n = transport.worldSize
        guard n > 1, count > 0, let base = buffer else { return }
        let bytes = count * elementSize
        if transport.rank != root {
            try transport.send(UnsafeRawBufferPointer(start: base, count: bytes), to: root, tag: tag, deadline: deadline)
            return
        }
        let scratch = workspace.scratch(atLeast: bytes)
        for peer in 0..<n where peer != root {
            try transport.receive(into: UnsafeMutableRawBufferPointer(start: scratch, count: bytes), from: peer, tag: tag, deadline: deadline)
            kernel.combine(base, scratch, count)
        }
        kernel.finish?(base, count, n)
    }

    /// Sends the root's buffer to every other rank.
    static func broadcast(
        buffer: UnsafeMutableRawPointer?, bytes: Int, root: Int,
        transport: any Transport, tag: UInt64, deadline: Deadline, workspace: Workspace
    ) throws(TransportError) {
        let n = transport.worldSize
        guard n > 1, bytes > 0, let base = buffer else { return }
        if transport.rank != root {
            try transport.receive(into: UnsafeMutableRawBufferPointer(start: base, count: bytes), from: root, tag: tag, deadline: deadline)
            return
        }
        workspace.sends.removeAll(keepingCapacity: true)
        for peer in 0..<n where peer != root {
            workspace.sends.append(try transport.postSend(UnsafeRawBufferPointer(start: base, count: bytes), to: peer, tag: tag))
        }
        for request in workspace.sends { try transport.wait(request, deadline: deadline) }
    }
}
