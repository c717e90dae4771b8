import CollectivesSystem
import CollectivesTransport

/// All-gather and reduce-scatter: the two halves of a ring all-reduce, each a collective of its
/// own. Blocks are indexed by rank: block *r* of an *n*-block buffer belongs to rank *r*.
extension Communicator {
    // MARK: All-gather

    /// Every rank's `send` lands at block `rank` of every rank's `receive`, which holds
    /// `worldSize × send.count` elements.
    public func allGather<T: CollectiveElement>(_ send: UnsafeBufferPointer<T>, into receive: UnsafeMutableBufferPointer<T>) throws(CollectivesError) {
        try checkBlocks(whole: receive.count, block: send.count, operation: "all-gather")
        try queue.runHere { () throws(CollectivesError) in
            try performAllGather(send: UnsafeRawPointer(send.baseAddress), receive: UnsafeMutableRawPointer(receive.baseAddress),
                                 blockCount: send.count, dataType: T.checkedDataType)
        }
    }

    /// In place: `buffer` holds `worldSize` blocks and this rank's contribution is already at
    /// block `rank`; afterwards every block holds its rank's contribution.
    public func allGather<T: CollectiveElement>(inPlace buffer: UnsafeMutableBufferPointer<T>) throws(CollectivesError) {
        try checkBlocks(whole: buffer.count, block: buffer.count / worldSize, operation: "all-gather")
        let block = buffer.count / worldSize
        try queue.runHere { () throws(CollectivesError) in
            let base = UnsafeMutableRawPointer(buffer.baseAddress)
            try performAllGather(send: base.map { UnsafeRawPointer($0 + rank * block * T.checkedDataType.size) },
                                 receive: base, blockCount: block, dataType: T.checkedDataType)
        }
    }

    /// Returns every rank's `array`, concatenated in rank order.
    public func allGather<T: CollectiveElement>(_ array: [T]) throws(CollectivesError) -> [T] {
        return try collected(array, count: array.count * worldSize) { (send, receive) throws(CollectivesError) in try allGather(send, into: receive) }
    }

    /// Starts an out-of-place all-gather on the communicator's thread.
    public func startAllGather<T: CollectiveElement>(_ send: UnsafeBufferPointer<T>, into receive: UnsafeMutableBufferPointer<T>) -> CollectiveRequest {
        let input = LentMemory(send), output = LentMemory(receive)
        return queue.start { () throws(CollectivesError) in
            try self.checkBlocks(whole: output.count, block: input.count, operation: "all-gather")
            try self.performAllGather(send: input.base.map { UnsafeRawPointer($0) }, receive: output.base,
                                      blockCount: input.count, dataType: T.checkedDataType)
        }
    }

    // MARK: Reduce-scatter

    /// `send` holds `worldSize` blocks; block *r* of the reduction over all ranks lands in rank
    /// *r*'s `receive`, which holds one block.
    public func reduceScatter<T: CollectiveElement>(_ send: UnsafeBufferPointer<T>, into receive: UnsafeMutableBufferPointer<T>, op: ReduceOperation = .sum) throws(CollectivesError) {
        try checkBlocks(whole: send.count, block: receive.count, operation: "reduce-scatter")
        try queue.runHere { () throws(CollectivesError) in
            try performReduceScatter(send: UnsafeRawPointer(send.baseAddress), receive: UnsafeMutableRawPointer(receive.baseAddress),
                                     blockCount: receive.count, dataType: T.checkedDataType, op: op)
        }
    }

    /// In place: `buffer` holds `worldSize` blocks; afterwards block `rank` holds this rank's
    /// block of the reduction and the other blocks hold partial results.
    public func reduceScatter<T: CollectiveElement>(inPlace buffer: UnsafeMutableBufferPointer<T>, op: ReduceOperation = .sum) throws(CollectivesError) {
        try checkBlocks(whole: buffer.count, block: buffer.count / worldSize, operation: "reduce-scatter")
        try queue.runHere { () throws(CollectivesError) in
            let base = UnsafeMutableRawPointer(buffer.baseAddress)
            try performReduceScatter(send: base.map { UnsafeRawPointer($0) }, receive: base,
                                     blockCount: buffer.count / worldSize, dataType: T.checkedDataType, op: op, inPlace: true)
        }
    }

    /// Returns this rank's block of the reduction of every rank's `array` (`worldSize` blocks).
    public func reduceScatter<T: CollectiveElement>(_ array: [T], op: ReduceOperation = .sum) throws(CollectivesError) -> [T] {
        let block = array.count / Swift.max(1, worldSize)
        return try collected(array, count: block) { (send, receive) throws(CollectivesError) in try reduceScatter(send, into: receive, op: op) }
    }

    /// Starts an out-of-place reduce-scatter on the communicator's thread.
    public func startReduceScatter<T: CollectiveElement>(_ send: UnsafeBufferPointer<T>, into receive: UnsafeMutableBufferPointer<T>, op: ReduceOperation = .sum) -> CollectiveRequest {
        let input = LentMemory(send), output = LentMemory(receive)
        return queue.start { () throws(CollectivesError) in
            try self.checkBlocks(whole: input.count, block: output.count, operation: "reduce-scatter")
            try self.performReduceScatter(send: input.base.map { UnsafeRawPointer($0) }, receive: output.base,
                                          blockCount: output.count, dataType: T.checkedDataType, op: op)
        }
    }

    // MARK: The operations

    /// Throws unless `whole` is exactly `worldSize` blocks of `block` elements.
    func checkBlocks(whole: Int, block: Int, operation: String) throws(CollectivesError) {
        guard whole == block * worldSize else {
            throw CollectivesError(.invalidArgument, rank: rank, operation: operation,
                                   reason: "the \(worldSize)-block buffer holds \(whole) elements, expected \(worldSize) × \(block) = \(block * worldSize)")
        }
    }

    func performAllGather(send: UnsafeRawPointer?, receive: UnsafeMutableRawPointer?, blockCount: Int, dataType: DataType) throws(CollectivesError) {
        let sequence = nextSequence()
        let blockBytes = blockCount * dataType.size
        let started = MonotonicClock.nanoseconds
        defer { metrics.record("all-gather", algorithm: "ring", bytes: blockBytes, since: started) }
        guard blockBytes > 0, let output = receive else { return }
        let own = output + rank * blockBytes
        if let send, send != UnsafeRawPointer(own) { own.copyMemory(from: send, byteCount: blockBytes) }
        do {
            try Ring.run(.allGather, buffer: output, count: blockCount * worldSize, elementSize: dataType.size, kernel: nil,
                         exchange: exchange(CallDescriptor(.allGather, sequence: sequence, count: blockCount, dataType: dataType)))
        } catch {
            throw failure(error, "all-gather #\(sequence) (\(blockCount) × \(dataType) per rank)")
        }
    }

    func performReduceScatter(send: UnsafeRawPointer?, receive: UnsafeMutableRawPointer?, blockCount: Int, dataType: DataType,
                              op: ReduceOperation, inPlace: Bool = false) throws(CollectivesError) {
        let kernel = try reductionKernel(dataType, op, operation: "reduce-scatter")
        let sequence = nextSequence()
        let blockBytes = blockCount * dataType.size
        let started = MonotonicClock.nanoseconds
        defer { metrics.record("reduce-scatter", algorithm: "ring", bytes: blockBytes * worldSize, since: started) }
        guard blockBytes > 0, let input = send, let output = receive else { return }
        let totalBytes = blockBytes * worldSize
        // The ring reduces in place: out of place it works in staging memory, reading the
        // caller's input where it needs it (one rank: no ring, the input is the result).
        let work = inPlace ? output : workspace.staging(atLeast: totalBytes)
        if !inPlace && worldSize == 1 { work.copyMemory(from: input, byteCount: totalBytes) }
        do {
            try Ring.run(.reduceScatter, buffer: work, source: inPlace ? nil : UnsafeRawPointer(input), count: blockCount * worldSize,
                         elementSize: dataType.size, kernel: kernel,
                         exchange: exchange(CallDescriptor(.reduceScatter, sequence: sequence, count: blockCount, dataType: dataType, op: op)))
        } catch {
            throw failure(error, "reduce-scatter #\(sequence) (\(blockCount) × \(dataType) per rank, \(op))")
        }
        if worldSize == 1 { kernel.finish?(work, blockCount, 1) }
        if !inPlace { output.copyMemory(from: work + rank * blockBytes, byteCount: blockBytes) }
    }
}
