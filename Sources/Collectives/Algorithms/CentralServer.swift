import CollectivesSystem
import CollectivesTransport

/// The parameter-server pattern: every rank sends its whole buffer to one root, which combines
/// them; the root sends a buffer to every rank. The root's link carries (n − 1) · N bytes each
/// way, which is the bottleneck a ring all-reduce removes. It exists as a baseline to measure
/// against (``Algorithm/central``), never chosen automatically.
enum CentralServer {
    /// Combines every rank's buffer into the root's, in rank order (so the result does not
    /// depend on arrival order). Other ranks' buffers are left as they were.
    static func reduce(
        buffer: UnsafeMutableRawPointer?, count: Int, elementSize: Int, kernel: ReductionKernel, root: Int, exchange: Exchange
    ) throws(TransportError) {
        let n = exchange.worldSize
        guard n > 1, count > 0, let base = buffer else { return }
        let bytes = count * elementSize
        if exchange.rank != root {
            try exchange.send(base, bytes: bytes, to: root)
            return
        }
        let scratch = exchange.workspace.scratch(atLeast: bytes)
        for peer in 0..<n where peer != root {
            try exchange.receive(scratch, bytes: bytes, from: peer)
            kernel.combine(base, scratch, count)
        }
        kernel.finish?(base, count, n)
    }

    /// Sends the root's buffer to every other rank.
    static func broadcast(buffer: UnsafeMutableRawPointer?, bytes: Int, root: Int, exchange: Exchange) throws(TransportError) {
        let n = exchange.worldSize
        guard n > 1, bytes > 0, let base = buffer else { return }
        if exchange.rank != root {
            try exchange.receive(base, bytes: bytes, from: root)
            return
        }
        exchange.workspace.sends.removeAll(keepingCapacity: true)
        for peer in 0..<n where peer != root {
            exchange.workspace.sends.append(try exchange.postSend(base, bytes: bytes, to: peer))
        }
        try exchange.waitForSends()
    }
}
