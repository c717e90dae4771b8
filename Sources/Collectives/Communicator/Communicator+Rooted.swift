import CollectivesSystem
import CollectivesTransport

/// Messages up to this size go along binomial trees (⌈log2 n⌉ latencies); larger ones along a
/// pipelined chain (each link carries the message once).
let rootedTreeLimitBytes = 64 << 10

extension Communicator {
    // MARK: Broadcast

    /// Copies `root`'s buffer into every other rank's buffer. Every rank passes the same count.
    public func broadcast<T: CollectiveElement>(_ buffer: UnsafeMutableBufferPointer<T>, root: Int) throws(CollectivesError) {
        try queue.runHere { () throws(CollectivesError) in
            try performBroadcast(UnsafeMutableRawPointer(buffer.baseAddress), count: buffer.count, dataType: T.checkedDataType, root: root)
        }
    }

    /// Broadcasts an array in place from `root`.
    public func broadcast<T: CollectiveElement>(_ array: inout [T], root: Int) throws(CollectivesError) {
        try withMutableBuffer(&array) { (buffer) throws(CollectivesError) in try broadcast(buffer, root: root) }
    }

    /// Out of place: `root` sends its `send`; every rank (the root too) gets it in `receive`.
    /// `send` is read on the root only (pass an empty buffer elsewhere).
    public func broadcast<T: CollectiveElement>(_ send: UnsafeBufferPointer<T>, into receive: UnsafeMutableBufferPointer<T>, root: Int) throws(CollectivesError) {
        if rank == root { try copyOnRoot(send, into: receive, operation: "broadcast") }
        try broadcast(receive, root: root)
    }

    /// Starts a broadcast on the communicator's thread; see ``startAllReduce(_:op:algorithm:)``.
    public func startBroadcast<T: CollectiveElement>(_ buffer: UnsafeMutableBufferPointer<T>, root: Int) -> CollectiveRequest {
        let memory = LentMemory(buffer)
        return queue.start { () throws(CollectivesError) in
            try self.performBroadcast(memory.base, count: memory.count, dataType: T.checkedDataType, root: root)
        }
    }

    // MARK: Reduce

    /// Reduces every rank's buffer into `root`'s. Other ranks' buffers are unchanged.
    public func reduce<T: CollectiveElement>(_ buffer: UnsafeMutableBufferPointer<T>, op: ReduceOperation = .sum, root: Int) throws(CollectivesError) {
        try queue.runHere { () throws(CollectivesError) in
            try performReduce(UnsafeMutableRawPointer(buffer.baseAddress), count: buffer.count, dataType: T.checkedDataType, op: op, root: root)
        }
    }

    /// Reduces an array into `root`'s.
    public func reduce<T: CollectiveElement>(_ array: inout [T], op: ReduceOperation = .sum, root: Int) throws(CollectivesError) {
        try withMutableBuffer(&array) { (buffer) throws(CollectivesError) in try reduce(buffer, op: op, root: root) }
    }

    /// Out of place: the root's `receive` gets the reduction of every rank's `send`; `receive` is
    /// not touched elsewhere (pass an empty buffer there).
    public func reduce<T: CollectiveElement>(_ send: UnsafeBufferPointer<T>, into receive: UnsafeMutableBufferPointer<T>, op: ReduceOperation = .sum, root: Int) throws(CollectivesError) {
        if rank == root {
            try copyOnRoot(send, into: receive, operation: "reduce")
            try reduce(receive, op: op, root: root)
        } else {
            // Non-roots' buffers are only read.
            try reduce(UnsafeMutableBufferPointer(mutating: send), op: op, root: root)
        }
    }

    // MARK: The operations

    func performBroadcast(_ base: UnsafeMutableRawPointer?, count: Int, dataType: DataType, root: Int) throws(CollectivesError) {
        try checkRoot(root, operation: "broadcast")
        let bytes = count * dataType.size
        let binomial = worldSize <= 2 || bytes <= rootedTreeLimitBytes
        try runNumbered(.broadcast, dataType, count: count, root: root, algorithm: binomial ? "binomial" : "chain", bytes: bytes,
                        segmentBytes: options.treeSegmentBytes) { context throws(TransportError) in
            if binomial {
                try Broadcast.binomial(buffer: base, bytes: bytes, root: root, exchange: context)
            } else {
                try Broadcast.chain(buffer: base, bytes: bytes, root: root, exchange: context)
            }
        }
    }

    func performReduce(_ base: UnsafeMutableRawPointer?, count: Int, dataType: DataType, op: ReduceOperation, root: Int) throws(CollectivesError) {
        try checkRoot(root, operation: "reduce")
        let kernel = try reductionKernel(dataType, op, operation: "reduce")
        let bytes = count * dataType.size
        let binomial = worldSize <= 2 || bytes <= rootedTreeLimitBytes
        try runNumbered(.reduce, dataType, count: count, op: op, root: root, algorithm: binomial ? "binomial" : "chain", bytes: bytes,
                        segmentBytes: options.treeSegmentBytes) { context throws(TransportError) in
            if binomial {
                try Reduce.binomial(buffer: base, count: count, elementSize: dataType.size, kernel: kernel, root: root, exchange: context)
            } else {
                try Reduce.chain(buffer: base, count: count, elementSize: dataType.size, kernel: kernel, root: root, exchange: context)
            }
        }
    }
}

extension Communicator {
    /// The root's part of an out-of-place broadcast or reduce: checks that its two buffers hold
    /// as many elements and copies `send` into `receive` (unless they are one buffer).
    func copyOnRoot<T: CollectiveElement>(_ send: UnsafeBufferPointer<T>, into receive: UnsafeMutableBufferPointer<T>,
                                          operation: String) throws(CollectivesError) {
        guard send.count == receive.count else {
            throw CollectivesError(.invalidArgument, rank: rank, operation: operation,
                                   reason: "the root's send buffer holds \(send.count) elements, its receive buffer \(receive.count)")
        }
        if let from = send.baseAddress, let to = receive.baseAddress, from != UnsafePointer(to) {
            to.update(from: from, count: send.count)
        }
    }
}
