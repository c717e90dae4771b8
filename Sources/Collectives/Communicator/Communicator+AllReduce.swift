import CollectivesSystem
import CollectivesTransport

extension Communicator {
    // MARK: Blocking

    /// Replaces every element of `buffer`, on every rank, with the reduction of that element
    /// over all ranks. Blocks the calling thread until done.
    ///
    /// Every rank must pass the same number of elements of the same type with the same `op`.
    /// A count of zero, or a world of one rank, returns at once.
    public func allReduce<T: CollectiveElement>(_ buffer: UnsafeMutableBufferPointer<T>, op: ReduceOperation = .sum) throws(CollectivesError) {
        try queue.runHere { () throws(CollectivesError) in
            try performAllReduce(UnsafeMutableRawPointer(buffer.baseAddress), count: buffer.count, dataType: T.dataType, op: op)
        }
    }

    /// All-reduces an array in place. See ``allReduce(_:op:)-(UnsafeMutableBufferPointer<T>,_)``.
    public func allReduce<T: CollectiveElement>(_ array: inout [T], op: ReduceOperation = .sum) throws(CollectivesError) {
        let result: Result<Void, CollectivesError> = array.withUnsafeMutableBufferPointer { buffer in
            Result { () throws(CollectivesError) in try allReduce(buffer, op: op) }
        }
        try result.get()
    }

    /// All-reduces untyped memory holding `count` elements of `dataType`.
    public func allReduce(_ buffer: UnsafeMutableRawBufferPointer, dataType: DataType, op: ReduceOperation = .sum) throws(CollectivesError) {
        guard buffer.count % dataType.size == 0 else {
            throw CollectivesError(.invalidArgument, rank: rank, operation: "all-reduce",
                                   reason: "\(buffer.count) bytes is not a whole number of \(dataType) elements")
        }
        try queue.runHere { () throws(CollectivesError) in
            try performAllReduce(buffer.baseAddress, count: buffer.count / dataType.size, dataType: dataType, op: op)
        }
    }

    // MARK: Async

    /// The `async` form of ``allReduce(_:op:)-(UnsafeMutableBufferPointer<T>,_)``: the work and
    /// the waiting happen on the communicator's own thread, so no cooperative thread is blocked.
    /// `buffer` must stay valid until this returns.
    public func allReduce<T: CollectiveElement>(_ buffer: UnsafeMutableBufferPointer<T>, op: ReduceOperation = .sum) async throws(CollectivesError) {
        let memory = LentMemory(base: UnsafeMutableRawPointer(buffer.baseAddress), count: buffer.count)
        try await queue.runOnWorker { () throws(CollectivesError) in
            try self.performAllReduce(memory.base, count: memory.count, dataType: T.dataType, op: op)
        }
    }

    /// The `async` form of ``allReduce(_:op:)-([T],_)``. The array's storage is handed to the
    /// communicator's thread and back, never copied.
    public func allReduce<T: CollectiveElement>(_ array: inout [T], op: ReduceOperation = .sum) async throws(CollectivesError) {
        let box = ArrayBox(array)
        array = []
        defer { array = box.take() }
        try await queue.runOnWorker { () throws(CollectivesError) in
            try box.withUnsafeMutableBufferPointer { (buffer) throws(CollectivesError) in
                try self.performAllReduce(UnsafeMutableRawPointer(buffer.baseAddress), count: buffer.count,
                                          dataType: T.dataType, op: op)
            }
        }
    }

    // MARK: Non-blocking

    /// Starts an all-reduce of `buffer` on the communicator's thread and returns at once; call
    /// ``CollectiveRequest/wait()`` before touching the buffer again. Requests run in the order
    /// they were started, after every call issued before them, so overlapping computation with
    /// several of these in flight is safe.
    public func startAllReduce<T: CollectiveElement>(_ buffer: UnsafeMutableBufferPointer<T>, op: ReduceOperation = .sum) -> CollectiveRequest {
        let memory = LentMemory(base: UnsafeMutableRawPointer(buffer.baseAddress), count: buffer.count)
        return queue.start { () throws(CollectivesError) in
            try self.performAllReduce(memory.base, count: memory.count, dataType: T.dataType, op: op)
        }
    }

    // MARK: The operation

    /// Runs one all-reduce; called inside the operation queue.
    func performAllReduce(_ base: UnsafeMutableRawPointer?, count: Int, dataType: DataType, op: ReduceOperation) throws(CollectivesError) {
        let sequence = nextSequence()
        guard worldSize > 1, count > 0 else { return }
        let tag = sequence << 8 | CollectiveKind.allReduce.rawValue
        do {
            try RingAllReduce.run(
                buffer: base, count: count, elementSize: dataType.size,
                kernel: ReductionKernel(dataType: dataType, operation: op),
                transport: transport, tag: tag, deadline: operationDeadline(), workspace: workspace,
                parameters: .init(segmentBytes: options.ringSegmentBytes, window: options.ringWindow))
        } catch {
            throw failure(error, "all-reduce #\(sequence) (\(count) × \(dataType), \(op))")
        }
    }
}

/// Which collective a message belongs to: the low byte of every tag.
enum CollectiveKind: UInt64 {
    case allReduce = 1
    case broadcast = 2
    case reduce = 3
}

/// Memory lent to the communicator's thread for the length of one `async` call.
struct LentMemory: @unchecked Sendable {
    let base: UnsafeMutableRawPointer?
    let count: Int
}

/// Carries an array's storage to the communicator's thread and back without copying it.
final class ArrayBox<T>: @unchecked Sendable {
    private var array: [T]

    init(_ array: [T]) { self.array = array }

    func withUnsafeMutableBufferPointer<R>(_ body: (UnsafeMutableBufferPointer<T>) throws(CollectivesError) -> R) throws(CollectivesError) -> R {
        let result: Result<R, CollectivesError> = array.withUnsafeMutableBufferPointer { buffer in
            Result { () throws(CollectivesError) in try body(buffer) }
        }
        return try result.get()
    }

    func take() -> [T] {
        let value = array
        array = []
        return value
    }
}
