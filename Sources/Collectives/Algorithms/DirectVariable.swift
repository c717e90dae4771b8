import CollectivesTransport

/// Personalized exchanges whose blocks differ in size from rank to rank (MPI's `…v`
/// collectives). Every message is sent, empty ones too, so that ranks that disagree on a size
/// fail with a size mismatch instead of waiting.
extension Direct {
    /// A block of bytes at `offset` of some buffer.
    struct Block {
        var offset: Int
        var bytes: Int
    }

    /// Rank *j* gets `sendBlocks[j]` of `send`; `receiveBlocks[j]` of `receive` comes from rank
    /// *j*. This rank's own block is copied.
    static func allToAllVariable(send: UnsafeRawPointer?, sendBlocks: [Block], receive: UnsafeMutableRawPointer?,
                                 receiveBlocks: [Block], exchange: Exchange) throws(TransportError) {
        copyOwn(send, sendBlocks[exchange.rank], receive, receiveBlocks[exchange.rank])
        try withEveryPeer(exchange, receive: { from throws(TransportError) in
            try postReceive(receive, receiveBlocks[from], from: from, exchange)
        }, send: { to throws(TransportError) in
            try postSend(send, sendBlocks[to], to: to, exchange)
        })
    }

    /// Every rank's `send` (of `sendBytes`) lands at `receiveBlocks[rank]` of the root's
    /// `receive`; `receiveBlocks` is read on the root only.
    static func gatherVariable(send: UnsafeRawPointer?, sendBytes: Int, receive: UnsafeMutableRawPointer?, receiveBlocks: [Block],
                               root: Int, exchange: Exchange) throws(TransportError) {
        let n = exchange.worldSize, rank = exchange.rank
        let own = Block(offset: 0, bytes: sendBytes)
        if rank != root {
            try exchange.wait(postSend(send, own, to: root, exchange))
            return
        }
        copyOwn(send, own, receive, receiveBlocks[rank])
        let workspace = exchange.workspace
        workspace.receives.removeAll(keepingCapacity: true)
        for peer in 0..<n where peer != root {
            workspace.receives.append(try postReceive(receive, receiveBlocks[peer], from: peer, exchange))
        }
        for request in workspace.receives { try exchange.wait(request) }
    }

    /// `sendBlocks[j]` of the root's `send` lands in rank *j*'s `receive` (of `receiveBytes`);
    /// `sendBlocks` is read on the root only.
    static func scatterVariable(send: UnsafeRawPointer?, sendBlocks: [Block], receive: UnsafeMutableRawPointer?, receiveBytes: Int,
                                root: Int, exchange: Exchange) throws(TransportError) {
        let n = exchange.worldSize, rank = exchange.rank
        let own = Block(offset: 0, bytes: receiveBytes)
        if rank != root {
            try exchange.wait(postReceive(receive, own, from: root, exchange))
            return
        }
        copyOwn(send, sendBlocks[rank], receive, own)
        let workspace = exchange.workspace
        workspace.sends.removeAll(keepingCapacity: true)
        for step in 1..<n {
            let peer = (root + step) % n
            workspace.sends.append(try postSend(send, sendBlocks[peer], to: peer, exchange))
        }
        try exchange.waitForSends()
    }

    private static func copyOwn(_ send: UnsafeRawPointer?, _ from: Block, _ receive: UnsafeMutableRawPointer?, _ to: Block) {
        guard from.bytes > 0, let send, let receive else { return }
        let source = send + from.offset, target = receive + to.offset
        if UnsafeRawPointer(target) != source { target.copyMemory(from: source, byteCount: Swift.min(from.bytes, to.bytes)) }
    }

    private static func postSend(_ base: UnsafeRawPointer?, _ block: Block, to peer: Int, _ exchange: Exchange) throws(TransportError) -> TransportRequest {
        let start = block.bytes > 0 ? base.map { $0 + block.offset } : nil
        return try exchange.transport.postSend(UnsafeRawBufferPointer(start: start, count: block.bytes), to: peer, tag: exchange.tag)
    }

    private static func postReceive(_ base: UnsafeMutableRawPointer?, _ block: Block, from peer: Int, _ exchange: Exchange) throws(TransportError) -> TransportRequest {
        let start = block.bytes > 0 ? base.map { $0 + block.offset } : nil
        return try exchange.transport.postReceive(into: UnsafeMutableRawBufferPointer(start: start, count: block.bytes), from: peer, tag: exchange.tag)
    }
}
