/// All-reduces issued together and run as one transfer per element type and operation, as NCCL
/// groups and torch.distributed's coalescing do: many small buffers (a model's biases, its
/// per-layer norms) cost one collective's latency instead of one each.
///
/// ```swift
/// try communicator.group { group in
///     group.allReduce(weightsGradient, op: .average)
///     group.allReduce(biasGradient, op: .average)
///     group.allReduce(flags, op: .bitwiseOr)
/// }
/// ```
///
/// The buffers are packed one after another into a staging buffer, all-reduced once, and copied
/// back. Every rank must queue the same buffers' lengths, types and operations in the same order
/// (a difference fails as a mismatch of the fused call, as it would for one all-reduce).
public final class AllReduceGroup: @unchecked Sendable {
    struct Entry {
        let memory: LentMemory
        let dataType: DataType
        let op: ReduceOperation
    }

    private(set) var entries: [Entry] = []

    init() {}

    /// Queues an all-reduce of `buffer` (in place) for when the group runs. The buffer must stay
    /// valid until the group's call returns (or its request completes).
    public func allReduce<T: CollectiveElement>(_ buffer: UnsafeMutableBufferPointer<T>, op: ReduceOperation = .sum) {
        entries.append(Entry(memory: LentMemory(buffer), dataType: T.checkedDataType, op: op))
    }

    /// How many all-reduces the group holds.
    public var count: Int { entries.count }
}

extension Communicator {
    /// Runs `body`, which queues all-reduces on the group it is given, then runs them as one
    /// transfer per (type, operation), in the order each pair first appears. Blocks until done.
    public func group(_ body: (AllReduceGroup) -> Void) throws(CollectivesError) {
        let group = AllReduceGroup()
        body(group)
        try queue.runHere { () throws(CollectivesError) in try performGroup(group.entries) }
    }

    /// The `async` form of `group(_:)`: the transfers run on the communicator's thread.
    public func group(_ body: (AllReduceGroup) -> Void) async throws(CollectivesError) {
        let group = AllReduceGroup()
        body(group)
        let entries = group.entries
        try await queue.runOnWorker { () throws(CollectivesError) in try self.performGroup(entries) }
    }

    /// The non-blocking form of `group(_:)`.
    public func startGroup(_ body: (AllReduceGroup) -> Void) -> CollectiveRequest {
        let group = AllReduceGroup()
        body(group)
        let entries = group.entries
        return queue.start { () throws(CollectivesError) in try self.performGroup(entries) }
    }

    /// Packs each (type, operation)'s buffers into one staging buffer, all-reduces it, unpacks.
    func performGroup(_ entries: [AllReduceGroup.Entry]) throws(CollectivesError) {
        var order: [(DataType, ReduceOperation)] = []
        for entry in entries where !order.contains(where: { $0 == (entry.dataType, entry.op) }) {
            order.append((entry.dataType, entry.op))
        }
        for (dataType, op) in order {
            let members = entries.filter { $0.dataType == dataType && $0.op == op }
            if members.count == 1 {
                try performAllReduce(members[0].memory.base, count: members[0].memory.count, dataType: dataType, op: op, algorithm: nil)
                continue
            }
            let total = members.reduce(0) { $0 + $1.memory.count }
            let size = dataType.size
            let staging = UnsafeMutableRawPointer.allocate(byteCount: Swift.max(1, total * size), alignment: 64)
            defer { staging.deallocate() }
            var offset = 0
            for member in members {
                if let base = member.memory.base { (staging + offset).copyMemory(from: base, byteCount: member.memory.count * size) }
                offset += member.memory.count * size
            }
            try performAllReduce(staging, count: total, dataType: dataType, op: op, algorithm: nil)
            offset = 0
            for member in members {
                if let base = member.memory.base { base.copyMemory(from: staging + offset, byteCount: member.memory.count * size) }
                offset += member.memory.count * size
            }
        }
    }
}
