import CollectivesSystem
import CollectivesTransport

/// Collectives in which every rank exchanges a distinct block with every other (all-to-all) or
/// with the root (gather, scatter): all messages are posted at once and progress together.
enum Direct {
    /// Block *j* of `send` goes to rank *j*; block *j* of `receive` comes from rank *j*.
    static func allToAll(send: UnsafeRawPointer?, receive: UnsafeMutableRawPointer?, blockBytes: Int, exchange: Exchange) throws(TransportError) {
        let rank = exchange.rank
        guard blockBytes > 0, let source = send, let target = receive else { return }
        (target + rank * blockBytes).copyMemory(from: source + rank * blockBytes, byteCount: blockBytes)
        try withEveryPeer(exchange, receive: { from throws(TransportError) in
            try exchange.postReceive(target + from * blockBytes, bytes: blockBytes, from: from)
        }, send: { to throws(TransportError) in
            try exchange.postSend(source + to * blockBytes, bytes: blockBytes, to: to)
        })
    }

    /// Posts a receive from every other rank (`receive(peer)`), then a send to every other rank
    /// (`send(peer)`), staggered so that not every rank sends to rank 0 first, and waits for all.
    static func withEveryPeer(_ exchange: Exchange, receive: (Int) throws(TransportError) -> TransportRequest,
                              send: (Int) throws(TransportError) -> TransportRequest) throws(TransportError) {
        let n = exchange.worldSize, rank = exchange.rank
        guard n > 1 else { return }
        let workspace = exchange.workspace
        workspace.receives.removeAll(keepingCapacity: true)
        workspace.sends.removeAll(keepingCapacity: true)
        for step in 1..<n { workspace.receives.append(try receive((rank - step + n) % n)) }
        for step in 1..<n { workspace.sends.append(try send((rank + step) % n)) }
        for request in workspace.receives { try exchange.wait(request) }
        try exchange.waitForSends()
    }

    /// Every rank's `send` block lands at its position in the root's `receive`.
    static func gather(send: UnsafeRawPointer?, receive: UnsafeMutableRawPointer?, blockBytes: Int, root: Int, exchange: Exchange) throws(TransportError) {
        let n = exchange.worldSize, rank = exchange.rank
        guard blockBytes > 0, let source = send else { return }
        if rank != root {
            try exchange.send(source, bytes: blockBytes, to: root)
            return
        }
        guard let target = receive else { return }
        if source != UnsafeRawPointer(target + rank * blockBytes) {
            (target + rank * blockBytes).copyMemory(from: source, byteCount: blockBytes)
        }
        let workspace = exchange.workspace
        workspace.receives.removeAll(keepingCapacity: true)
        for peer in 0..<n where peer != root {
            workspace.receives.append(try exchange.postReceive(target + peer * blockBytes, bytes: blockBytes, from: peer))
        }
        for request in workspace.receives { try exchange.wait(request) }
    }

    /// Block *j* of the root's `send` lands in rank *j*'s `receive`.
    static func scatter(send: UnsafeRawPointer?, receive: UnsafeMutableRawPointer?, blockBytes: Int, root: Int, exchange: Exchange) throws(TransportError) {
        let n = exchange.worldSize, rank = exchange.rank
        guard blockBytes > 0, let target = receive else { return }
        if rank != root {
            try exchange.receive(target, bytes: blockBytes, from: root)
            return
        }
        guard let source = send else { return }
        if UnsafeRawPointer(target) != source + rank * blockBytes {
            target.copyMemory(from: source + rank * blockBytes, byteCount: blockBytes)
        }
        let workspace = exchange.workspace
        workspace.sends.removeAll(keepingCapacity: true)
        for step in 1..<n {
            let peer = (root + step) % n
            workspace.sends.append(try exchange.postSend(source + peer * blockBytes, bytes: blockBytes, to: peer))
        }
        try exchange.waitForSends()
    }

    /// Dissemination barrier: in round *k* each rank signals rank + 2^*k* and waits for rank − 2^*k*;
    /// after ⌈log2 n⌉ rounds every rank has heard, indirectly, from every other.
    static func barrier(exchange: Exchange) throws(TransportError) {
        let n = exchange.worldSize, rank = exchange.rank
        guard n > 1 else { return }
        let token = exchange.workspace.staging(atLeast: 2)
        var distance = 1
        while distance < n {
            try exchange.exchange(send: token, to: (rank + distance) % n,
                                  receive: token + 1, from: (rank - distance + n) % n, bytes: 1)
            distance <<= 1
        }
    }
}
