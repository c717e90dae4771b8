import CollectivesSystem
import CollectivesTransport

/// Collectives whose blocks differ in size from rank to rank (Gloo's allgatherv and alltoallv,
/// MPI's `…v` collectives). The array forms first exchange the sizes, so each rank passes only
/// its own data; the buffer forms take every size from the caller, who must give every rank the
/// same sizes (a difference fails with a size mismatch naming both ranks, or at the timeout).
extension Communicator {
    // MARK: All-gather

    /// Returns every rank's `array`, by rank; arrays may differ in length, and be empty.
    public func allGatherVariable<T: CollectiveElement>(_ array: [T]) throws(CollectivesError) -> [[T]] {
        // One operation: the sizes and the data run back to back, whatever other threads issue.
        try queue.runHere { () throws(CollectivesError) in
            let counts = try allGather([Int64(array.count)]).map { Int($0) }
            var flat: [T] = uninitializedArray(counts.reduce(0, +))
            try withBuffers(array, &flat) { (send, receive) throws(CollectivesError) in
                try allGatherVariable(send, into: receive, counts: counts)
            }
            return split(flat, counts)
        }
    }

    /// Out of place with known sizes: rank *j*'s `send` (of `counts[j]` elements) lands after
    /// the blocks of ranks 0..<*j* in `receive`, which holds `counts.reduce(0, +)` elements.
    public func allGatherVariable<T: CollectiveElement>(_ send: UnsafeBufferPointer<T>, into receive: UnsafeMutableBufferPointer<T>,
                                                        counts: [Int]) throws(CollectivesError) {
        let operation = "variable all-gather"
        try checkCounts(counts, operation: operation)
        try checkCount(send.count, is: counts[rank], "the send buffer", operation: operation)
        try checkCount(receive.count, is: counts.reduce(0, +), "the receive buffer", operation: operation)
        let size = T.checkedDataType.size
        let blocks = Self.blocks(counts, size)
        try queue.runHere { () throws(CollectivesError) in
            try runNumbered(.allGatherVariable, T.checkedDataType, bytes: send.count * size, what: "(\(counts.reduce(0, +)) × \(T.checkedDataType) in all)") { exchange throws(TransportError) in
                let own = Direct.Block(offset: 0, bytes: send.count * size)
                try Direct.allToAllVariable(send: UnsafeRawPointer(send.baseAddress), sendBlocks: Array(repeating: own, count: worldSize),
                                            receive: UnsafeMutableRawPointer(receive.baseAddress), receiveBlocks: blocks, exchange: exchange)
            }
        }
    }

    // MARK: Gather and scatter

    /// Returns, on the root, every rank's `array` by rank (lengths may differ); elsewhere `[]`.
    public func gatherVariable<T: CollectiveElement>(_ array: [T], root: Int) throws(CollectivesError) -> [[T]] {
        try queue.runHere { () throws(CollectivesError) in
            let counts = try gather([Int64(array.count)], root: root).map { Int($0) }
            let total = counts.reduce(0, +)
            var flat: [T] = uninitializedArray(total)
            try withBuffers(array, &flat) { (send, receive) throws(CollectivesError) in
                try gatherVariable(send, into: receive, counts: rank == root ? counts : [], root: root)
            }
            return rank == root ? split(flat, counts) : []
        }
    }

    /// Every rank's `send` lands in the root's `receive` after the blocks of the ranks before
    /// it; `counts` (every rank's count) and `receive` are read on the root only.
    public func gatherVariable<T: CollectiveElement>(_ send: UnsafeBufferPointer<T>, into receive: UnsafeMutableBufferPointer<T>,
                                                     counts: [Int], root: Int) throws(CollectivesError) {
        let operation = "variable gather"
        try checkRoot(root, operation: operation)
        let size = T.checkedDataType.size
        var blocks: [Direct.Block] = []
        if rank == root {
            try checkCounts(counts, operation: operation)
            try checkCount(send.count, is: counts[rank], "the root's send buffer", operation: operation)
            try checkCount(receive.count, is: counts.reduce(0, +), "the root's receive buffer", operation: operation)
            blocks = Self.blocks(counts, size)
        }
        try queue.runHere { () throws(CollectivesError) in
            try runNumbered(.gatherVariable, T.checkedDataType, root: root, bytes: send.count * size, what: "(\(send.count) × \(T.checkedDataType) from this rank, root \(root))") { exchange throws(TransportError) in
                try Direct.gatherVariable(send: UnsafeRawPointer(send.baseAddress), sendBytes: send.count * size,
                                          receive: UnsafeMutableRawPointer(receive.baseAddress), receiveBlocks: blocks, root: root, exchange: exchange)
            }
        }
    }

    /// Returns this rank's array of the root's `arrays` (one per rank, lengths may differ;
    /// read on the root only: pass `[]` elsewhere).
    public func scatterVariable<T: CollectiveElement>(_ arrays: [[T]], root: Int) throws(CollectivesError) -> [T] {
        let failure: CollectivesError? = rank == root && arrays.count != worldSize
            ? CollectivesError(.invalidArgument, rank: rank, operation: "variable scatter",
                               reason: "the root passes \(arrays.count) arrays for \(worldSize) ranks")
            : nil
        return try scatterVariable(arrays, root: root, rootFailure: failure)
    }

    /// The array form; a failure on the root (its arguments, or an object that would not encode)
    /// travels to every rank in place of the sizes, so that none waits for data that never comes.
    func scatterVariable<T: CollectiveElement>(_ arrays: [[T]], root: Int, rootFailure: CollectivesError?) throws(CollectivesError) -> [T] {
        try queue.runHere { () throws(CollectivesError) in
            let counts = rank == root ? (rootFailure == nil ? arrays.map { Int64($0.count) } : Array(repeating: -1, count: worldSize)) : []
            let mine = Int(try scatter(counts, count: 1, root: root)[0])
            if let rootFailure, rank == root { throw rootFailure }
            guard mine >= 0 else {
                throw CollectivesError(.invalidArgument, rank: rank, operation: "variable scatter", peer: root,
                                       reason: "the root, rank \(root), failed before sending (its own error says why)")
            }
            let flat = rank == root ? Array(arrays.joined()) : []
            var output: [T] = uninitializedArray(mine)
            try withBuffers(flat, &output) { (send, receive) throws(CollectivesError) in
                try scatterVariable(send, counts: counts.map { Int($0) }, into: receive, root: root)
            }
            return output
        }
    }

    /// Block *j* of the root's `send` (`counts[j]` elements, after the blocks before it) lands in
    /// rank *j*'s `receive`; `send` and `counts` are read on the root only.
    public func scatterVariable<T: CollectiveElement>(_ send: UnsafeBufferPointer<T>, counts: [Int], into receive: UnsafeMutableBufferPointer<T>,
                                                      root: Int) throws(CollectivesError) {
        let operation = "variable scatter"
        try checkRoot(root, operation: operation)
        let size = T.checkedDataType.size
        var blocks: [Direct.Block] = []
        if rank == root {
            try checkCounts(counts, operation: operation)
            try checkCount(send.count, is: counts.reduce(0, +), "the root's send buffer", operation: operation)
            try checkCount(receive.count, is: counts[rank], "the root's receive buffer", operation: operation)
            blocks = Self.blocks(counts, size)
        }
        try queue.runHere { () throws(CollectivesError) in
            try runNumbered(.scatterVariable, T.checkedDataType, root: root, bytes: rank == root ? send.count * size : 0, what: "(\(receive.count) × \(T.checkedDataType) to this rank, root \(root))") { exchange throws(TransportError) in
                try Direct.scatterVariable(send: UnsafeRawPointer(send.baseAddress), sendBlocks: blocks,
                                           receive: UnsafeMutableRawPointer(receive.baseAddress), receiveBytes: receive.count * size,
                                           root: root, exchange: exchange)
            }
        }
    }

    // MARK: All-to-all

    /// Sends `arrays[j]` to rank *j* and returns, by rank, what each rank sent this one
    /// (lengths may differ, and be zero).
    public func allToAllVariable<T: CollectiveElement>(_ arrays: [[T]]) throws(CollectivesError) -> [[T]] {
        guard arrays.count == worldSize else {
            throw CollectivesError(.invalidArgument, rank: rank, operation: "variable all-to-all",
                                   reason: "\(arrays.count) arrays for \(worldSize) ranks")
        }
        return try queue.runHere { () throws(CollectivesError) in
            let sendCounts = arrays.map(\.count)
            let receiveCounts = try allToAll(sendCounts.map { Int64($0) }).map { Int($0) }
            let total = receiveCounts.reduce(0, +)
            var flat: [T] = uninitializedArray(total)
            try withBuffers(Array(arrays.joined()), &flat) { (send, receive) throws(CollectivesError) in
                try allToAllVariable(send, sendCounts: sendCounts, into: receive, receiveCounts: receiveCounts)
            }
            return split(flat, receiveCounts)
        }
    }

    /// Block *j* of `send` (`sendCounts[j]` elements) goes to rank *j*; block *j* of `receive`
    /// (`receiveCounts[j]`) comes from rank *j*. Rank *j*'s `sendCounts[i]` must equal rank
    /// *i*'s `receiveCounts[j]`.
    public func allToAllVariable<T: CollectiveElement>(_ send: UnsafeBufferPointer<T>, sendCounts: [Int],
                                                       into receive: UnsafeMutableBufferPointer<T>, receiveCounts: [Int]) throws(CollectivesError) {
        let operation = "variable all-to-all"
        try checkCounts(sendCounts, operation: operation)
        try checkCounts(receiveCounts, operation: operation)
        try checkCount(send.count, is: sendCounts.reduce(0, +), "the send buffer", operation: operation)
        try checkCount(receive.count, is: receiveCounts.reduce(0, +), "the receive buffer", operation: operation)
        try checkCount(receiveCounts[rank], is: sendCounts[rank], "the block this rank keeps", operation: operation)
        let size = T.checkedDataType.size
        let sendBlocks = Self.blocks(sendCounts, size), receiveBlocks = Self.blocks(receiveCounts, size)
        try queue.runHere { () throws(CollectivesError) in
            try runNumbered(.allToAllVariable, T.checkedDataType, bytes: send.count * size, what: "(\(send.count) × \(T.checkedDataType) out, \(receive.count) in)") { exchange throws(TransportError) in
                try Direct.allToAllVariable(send: UnsafeRawPointer(send.baseAddress), sendBlocks: sendBlocks,
                                            receive: UnsafeMutableRawPointer(receive.baseAddress), receiveBlocks: receiveBlocks, exchange: exchange)
            }
        }
    }

    // MARK: Helpers

    /// Byte blocks laid end to end for `counts` elements of `size` bytes.
    private static func blocks(_ counts: [Int], _ size: Int) -> [Direct.Block] {
        var offset = 0
        return counts.map { count in
            defer { offset += count * size }
            return Direct.Block(offset: offset, bytes: count * size)
        }
    }

    private func checkCounts(_ counts: [Int], operation: String) throws(CollectivesError) {
        guard counts.count == worldSize, counts.allSatisfy({ $0 >= 0 }) else {
            throw CollectivesError(.invalidArgument, rank: rank, operation: operation,
                                   reason: "expected \(worldSize) counts of at least 0, one per rank, got \(counts)")
        }
    }

    private func checkCount(_ count: Int, is expected: Int, _ what: String, operation: String) throws(CollectivesError) {
        guard count == expected else {
            throw CollectivesError(.invalidArgument, rank: rank, operation: operation,
                                   reason: "\(what) holds \(count) elements, the counts say \(expected)")
        }
    }

    private func split<T>(_ flat: [T], _ counts: [Int]) -> [[T]] {
        var start = 0
        return counts.map { count in
            defer { start += count }
            return Array(flat[start..<start + count])
        }
    }
}
