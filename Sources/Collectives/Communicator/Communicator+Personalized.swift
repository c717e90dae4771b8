import CollectivesSystem
import CollectivesTransport

/// Collectives in which each rank sends different data to each other rank: all-to-all, gather,
/// scatter; and the barrier. Blocks are indexed by rank.
extension Communicator {
    // MARK: All-to-all

    /// Block *j* of this rank's `send` goes to rank *j*, and block *j* of `receive` comes from
    /// rank *j*. Both hold `worldSize` blocks of the same size.
    public func allToAll<T: CollectiveElement>(_ send: UnsafeBufferPointer<T>, into receive: UnsafeMutableBufferPointer<T>) throws(CollectivesError) {
        guard send.count == receive.count else {
            throw CollectivesError(.invalidArgument, rank: rank, operation: "all-to-all",
                                   reason: "the send buffer holds \(send.count) elements, the receive buffer \(receive.count)")
        }
        try checkBlocks(whole: send.count, block: send.count / worldSize, operation: "all-to-all")
        try queue.runHere { () throws(CollectivesError) in
            try performAllToAll(send: UnsafeRawPointer(send.baseAddress), receive: UnsafeMutableRawPointer(receive.baseAddress),
                                blockCount: send.count / worldSize, dataType: T.checkedDataType)
        }
    }

    /// In place: block *j* of `buffer` goes to rank *j* and is replaced by rank *j*'s block for
    /// this rank.
    public func allToAll<T: CollectiveElement>(inPlace buffer: UnsafeMutableBufferPointer<T>) throws(CollectivesError) {
        try checkBlocks(whole: buffer.count, block: buffer.count / worldSize, operation: "all-to-all")
        try queue.runHere { () throws(CollectivesError) in
            let bytes = buffer.count * T.checkedDataType.size
            let copy = workspace.staging(atLeast: Swift.max(bytes, 1))
            if let base = buffer.baseAddress { copy.copyMemory(from: base, byteCount: bytes) }
            try performAllToAll(send: UnsafeRawPointer(copy), receive: UnsafeMutableRawPointer(buffer.baseAddress),
                                blockCount: buffer.count / worldSize, dataType: T.checkedDataType)
        }
    }

    /// Returns the blocks every rank addressed to this one, in rank order.
    public func allToAll<T: CollectiveElement>(_ array: [T]) throws(CollectivesError) -> [T] {
        return try collected(array, count: array.count) { (send, receive) throws(CollectivesError) in try allToAll(send, into: receive) }
    }

    // MARK: Gather and scatter

    /// Every rank's `send` lands at block `rank` of the root's `receive` (`worldSize` blocks).
    /// `receive` is not touched on other ranks (pass an empty buffer there).
    public func gather<T: CollectiveElement>(_ send: UnsafeBufferPointer<T>, into receive: UnsafeMutableBufferPointer<T>, root: Int) throws(CollectivesError) {
        try checkRoot(root, operation: "gather")
        if rank == root { try checkBlocks(whole: receive.count, block: send.count, operation: "gather") }
        let blockBytes = send.count * T.checkedDataType.size
        try queue.runHere { () throws(CollectivesError) in
            try runNumbered(.gather, T.checkedDataType, count: send.count, root: root, bytes: blockBytes) { exchange throws(TransportError) in
                try Direct.gather(send: UnsafeRawPointer(send.baseAddress), receive: UnsafeMutableRawPointer(receive.baseAddress),
                                  blockBytes: blockBytes, root: root, exchange: exchange)
            }
        }
    }

    /// Returns, on the root, every rank's `array` concatenated in rank order; elsewhere `[]`.
    public func gather<T: CollectiveElement>(_ array: [T], root: Int) throws(CollectivesError) -> [T] {
        let total = rank == root ? array.count * worldSize : 0
        return try collected(array, count: total) { (send, receive) throws(CollectivesError) in try gather(send, into: receive, root: root) }
    }

    /// Block *j* of the root's `send` (`worldSize` blocks) lands in rank *j*'s `receive`.
    /// `send` is read on the root only (pass an empty buffer elsewhere).
    public func scatter<T: CollectiveElement>(_ send: UnsafeBufferPointer<T>, into receive: UnsafeMutableBufferPointer<T>, root: Int) throws(CollectivesError) {
        try checkRoot(root, operation: "scatter")
        if rank == root { try checkBlocks(whole: send.count, block: receive.count, operation: "scatter") }
        let size = T.checkedDataType.size
        try queue.runHere { () throws(CollectivesError) in
            try runNumbered(.scatter, T.checkedDataType, count: receive.count, root: root, bytes: send.count * size) { exchange throws(TransportError) in
                try Direct.scatter(send: UnsafeRawPointer(send.baseAddress), receive: UnsafeMutableRawPointer(receive.baseAddress),
                                   blockBytes: receive.count * size, root: root, exchange: exchange)
            }
        }
    }

    /// Returns this rank's block of the root's `array` (`worldSize` blocks of `count`; `array`
    /// is read on the root only).
    public func scatter<T: CollectiveElement>(_ array: [T], count: Int, root: Int) throws(CollectivesError) -> [T] {
        return try collected(array, count: count) { (send, receive) throws(CollectivesError) in try scatter(send, into: receive, root: root) }
    }

    // MARK: Barrier

    /// Returns once every rank has called it (dissemination: ⌈log2 n⌉ rounds of one-byte
    /// messages).
    public func barrier() throws(CollectivesError) {
        try queue.runHere { () throws(CollectivesError) in try performBarrier() }
    }

    /// The `async` form of ``barrier()``.
    public func barrier() async throws(CollectivesError) {
        try await queue.runOnWorker { () throws(CollectivesError) in try self.performBarrier() }
    }

    // MARK: The operations

    func performAllToAll(send: UnsafeRawPointer?, receive: UnsafeMutableRawPointer?, blockCount: Int, dataType: DataType) throws(CollectivesError) {
        try runNumbered(.allToAll, dataType, count: blockCount, bytes: blockCount * dataType.size * worldSize) { exchange throws(TransportError) in
            try Direct.allToAll(send: send, receive: receive, blockBytes: blockCount * dataType.size, exchange: exchange)
        }
    }

    func performBarrier() throws(CollectivesError) {
        try runNumbered(.barrier, nil, algorithm: "dissemination", bytes: 0) { exchange throws(TransportError) in
            try Direct.barrier(exchange: exchange)
        }
    }
}
