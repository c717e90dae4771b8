import CollectivesSystem
import CollectivesTransport

extension Communicator {
    // MARK: Blocking

    /// Replaces every element of `buffer`, on every rank, with the reduction of that element
    /// over all ranks. Blocks the calling thread until done.
    ///
    /// Every rank must pass the same number of elements of the same type with the same `op`
    /// and `algorithm`. A count of zero, or a world of one rank, returns at once. Every rank
    /// ends with the same bits, whatever the algorithm.
    ///
    /// - Parameters:
    ///   - buffer: this rank's values, replaced by the reduction.
    ///   - op: how values combine; it must apply to `T` (``ReduceOperation/applies(to:)``).
    ///   - algorithm: forces an algorithm for this call; `nil` uses
    ///     ``CommunicatorOptions/algorithm`` (by default ``Algorithm/auto``).
    public func allReduce<T: CollectiveElement>(_ buffer: UnsafeMutableBufferPointer<T>, op: ReduceOperation = .sum, algorithm: Algorithm? = nil) throws(CollectivesError) {
        try queue.runHere { () throws(CollectivesError) in
            try performAllReduce(UnsafeMutableRawPointer(buffer.baseAddress), count: buffer.count, dataType: T.checkedDataType, op: op, algorithm: algorithm)
        }
    }

    /// All-reduces an array in place. See `allReduce(_:op:algorithm:)` on a buffer.
    public func allReduce<T: CollectiveElement>(_ array: inout [T], op: ReduceOperation = .sum, algorithm: Algorithm? = nil) throws(CollectivesError) {
        try withMutableBuffer(&array) { (buffer) throws(CollectivesError) in try allReduce(buffer, op: op, algorithm: algorithm) }
    }

    /// Out of place: `receive` gets the reduction of every rank's `send`; `send` is unchanged.
    /// Both hold the same number of elements.
    public func allReduce<T: CollectiveElement>(_ send: UnsafeBufferPointer<T>, into receive: UnsafeMutableBufferPointer<T>, op: ReduceOperation = .sum, algorithm: Algorithm? = nil) throws(CollectivesError) {
        guard send.count == receive.count else {
            throw CollectivesError(.invalidArgument, rank: rank, operation: "all-reduce",
                                   reason: "the send buffer holds \(send.count) elements, the receive buffer \(receive.count)")
        }
        let source = send.baseAddress.flatMap { $0 == UnsafePointer(receive.baseAddress) ? nil : UnsafeRawPointer($0) }
        try queue.runHere { () throws(CollectivesError) in
            try performAllReduce(UnsafeMutableRawPointer(receive.baseAddress), source: source, count: receive.count,
                                 dataType: T.checkedDataType, op: op, algorithm: algorithm)
        }
    }

    /// All-reduces untyped memory holding `count` elements of `dataType`.
    public func allReduce(_ buffer: UnsafeMutableRawBufferPointer, dataType: DataType, op: ReduceOperation = .sum, algorithm: Algorithm? = nil) throws(CollectivesError) {
        let count = try elementCount(buffer.count, dataType, operation: "all-reduce")
        try queue.runHere { () throws(CollectivesError) in
            try performAllReduce(buffer.baseAddress, count: count, dataType: dataType, op: op, algorithm: algorithm)
        }
    }

    /// All-reduces untyped memory out of place: `receive` gets the reduction of every rank's
    /// `send`, both holding the same number of `dataType` elements; `send` is unchanged. (What a
    /// caller that knows its types only at run time uses: a C or Python binding, a benchmark.)
    public func allReduce(_ send: UnsafeRawBufferPointer, into receive: UnsafeMutableRawBufferPointer, dataType: DataType,
                          op: ReduceOperation = .sum, algorithm: Algorithm? = nil) throws(CollectivesError) {
        guard send.count == receive.count else {
            throw CollectivesError(.invalidArgument, rank: rank, operation: "all-reduce",
                                   reason: "the send buffer holds \(send.count) bytes, the receive buffer \(receive.count)")
        }
        let count = try elementCount(receive.count, dataType, operation: "all-reduce")
        let source = send.baseAddress.flatMap { $0 == UnsafeRawPointer(receive.baseAddress) ? nil : $0 }
        try queue.runHere { () throws(CollectivesError) in
            try performAllReduce(receive.baseAddress, source: source, count: count, dataType: dataType, op: op, algorithm: algorithm)
        }
    }

    // MARK: Async

    /// The `async` form of `allReduce(_:op:algorithm:)` on a buffer:
    /// the work and the waiting happen on the communicator's own thread, so no cooperative thread
    /// is blocked. `buffer` must stay valid until this returns.
    public func allReduce<T: CollectiveElement>(_ buffer: UnsafeMutableBufferPointer<T>, op: ReduceOperation = .sum, algorithm: Algorithm? = nil) async throws(CollectivesError) {
        let memory = LentMemory(buffer)
        try await queue.runOnWorker { () throws(CollectivesError) in
            try self.performAllReduce(memory.base, count: memory.count, dataType: T.checkedDataType, op: op, algorithm: algorithm)
        }
    }

    /// The `async` form of the array `allReduce(_:op:algorithm:)`. The array's storage is
    /// handed to the communicator's thread and back, never copied.
    public func allReduce<T: CollectiveElement>(_ array: inout [T], op: ReduceOperation = .sum, algorithm: Algorithm? = nil) async throws(CollectivesError) {
        let box = ArrayBox(array)
        array = []
        defer { array = box.take() }
        try await queue.runOnWorker { () throws(CollectivesError) in
            try box.withUnsafeMutableBufferPointer { (buffer) throws(CollectivesError) in
                try self.performAllReduce(UnsafeMutableRawPointer(buffer.baseAddress), count: buffer.count,
                                          dataType: T.checkedDataType, op: op, algorithm: algorithm)
            }
        }
    }

    // MARK: Non-blocking

    /// Starts an all-reduce of `buffer` on the communicator's thread and returns at once; call
    /// `CollectiveRequest.wait()` before touching the buffer again. Requests run in the order
    /// they were started, after every call issued before them, so overlapping computation with
    /// several of these in flight is safe.
    public func startAllReduce<T: CollectiveElement>(_ buffer: UnsafeMutableBufferPointer<T>, op: ReduceOperation = .sum, algorithm: Algorithm? = nil) -> CollectiveRequest {
        let memory = LentMemory(buffer)
        return queue.start { () throws(CollectivesError) in
            try self.performAllReduce(memory.base, count: memory.count, dataType: T.checkedDataType, op: op, algorithm: algorithm)
        }
    }

    // MARK: The operation

    /// Runs one all-reduce; called inside the operation queue. Out of place when `source` (a
    /// buffer of `count` elements other than `base`) is given: it is only read.
    func performAllReduce(_ base: UnsafeMutableRawPointer?, source: UnsafeRawPointer? = nil, count: Int, dataType: DataType,
                          op: ReduceOperation, algorithm: Algorithm?) throws(CollectivesError) {
        let kernel = try reductionKernel(dataType, op, operation: "all-reduce")
        let sequence = nextSequence()
        let bytes = count * dataType.size
        // One clock read for the deadline and the metrics both; the coarse clock where only a
        // deadline of a second or more needs it (it then comes up to a clock tick, a few ms, early).
        let start = metrics.isRecording || options.timeoutSeconds < 1 ? Deadline.now : Deadline.coarseNow
        var algorithmName = "none"
        defer { metrics.record("all-reduce", algorithm: algorithmName, bytes: bytes, since: start.uptimeNanoseconds) }
        guard worldSize > 1, count > 0 else {
            if let source, let base, count > 0 { base.copyMemory(from: source, byteCount: bytes) }
            return
        }
        let measuring = costModel == nil && (algorithm ?? options.algorithm) == .auto
        let chosen = try resolve(algorithm, bytes: bytes)
        algorithmName = chosen.rawValue
        // The deadline runs from here when the cost model was just measured.
        let callStart = measuring ? Deadline.now : start
        // One-shot runs on the board where the message fits it, else as recursive doubling.
        let onBoard = chosen == .oneShot && board.map { bytes <= $0.boardCapacity } ?? false
        // The ring and one-shot read the send buffer where they need it; the other algorithms
        // start from a copy.
        let ringSource = chosen == .ring || chosen == .auto || onBoard ? source : nil
        if let source, ringSource == nil, let base { base.copyMemory(from: source, byteCount: bytes) }
        let call = CallDescriptor(.allReduce, sequence: sequence, count: count, dataType: dataType, op: op, algorithm: chosen)
        do {
            switch chosen {
            case .ring, .auto:
                // Host by host, so that the ring crosses between hosts as few times as it can.
                try Ring.run(.allReduce, buffer: base, source: ringSource, count: count, elementSize: dataType.size, kernel: kernel,
                             exchange: exchange(call, start: callStart).over(ringTransport))
            case .hierarchical:
                if let (local, across) = layout.hierarchy(of: rank) {
                    try Hierarchical.run(buffer: base, count: count, elementSize: dataType.size, kernel: kernel,
                                         local: local, across: across, exchange: exchange(call, start: callStart))
                } else {
                    try Ring.run(.allReduce, buffer: base, count: count, elementSize: dataType.size, kernel: kernel,
                                 exchange: exchange(call, start: callStart).over(ringTransport))
                }
            case .tree:
                try TreeAllReduce.run(buffer: base, count: count, elementSize: dataType.size, kernel: kernel,
                                      exchange: exchange(call, segmentBytes: options.treeSegmentBytes, start: callStart))
            case .oneShot:
                if onBoard, let board {
                    try OneShot.run(buffer: base, source: ringSource, count: count, elementSize: dataType.size, kernel: kernel,
                                    board: board, exchange: exchange(call, start: callStart))
                } else {
                    try RecursiveDoubling.run(buffer: base, count: count, elementSize: dataType.size, kernel: kernel,
                                              exchange: exchange(call, start: callStart))
                }
            case .rabenseifner:
                try Rabenseifner.run(buffer: base, count: count, elementSize: dataType.size, kernel: kernel,
                                     exchange: exchange(call, start: callStart))
            case .recursiveDoubling:
                try RecursiveDoubling.run(buffer: base, count: count, elementSize: dataType.size, kernel: kernel,
                                          exchange: exchange(call, start: callStart))
            case .central:
                let context = exchange(call, start: callStart)
                try CentralServer.reduce(buffer: base, count: count, elementSize: dataType.size, kernel: kernel, root: 0, exchange: context)
                try CentralServer.broadcast(buffer: base, bytes: bytes, root: 0, exchange: context)
            }
        } catch {
            throw failure(error, call.description)
        }
    }

    /// The algorithm an all-reduce of `bytes` would use with `algorithm` (`nil`: the
    /// communicator's default): for ``Algorithm/auto``, the cost model's choice. A collective when
    /// the model has not been measured yet (every rank must call it then).
    public func allReduceAlgorithm(forBytes bytes: Int, algorithm: Algorithm? = nil) throws(CollectivesError) -> Algorithm {
        try queue.runHere { () throws(CollectivesError) in try resolve(algorithm, bytes: bytes) }
    }

    /// The cost model of the automatic choice, measuring it first if need be (a collective then).
    public func automaticChoiceModel() throws(CollectivesError) -> CostModel {
        try queue.runHere { () throws(CollectivesError) in try currentCostModel() }
    }

    /// The algorithm for an all-reduce of `bytes`: the call's, else the communicator's, and for
    /// ``Algorithm/auto`` the cost model's choice (measuring the model first if need be).
    func resolve(_ algorithm: Algorithm?, bytes: Int) throws(CollectivesError) -> Algorithm {
        let wanted = algorithm ?? options.algorithm
        guard wanted == .auto else { return wanted }
        if let known = automaticChoices.choice(forBytes: bytes) { return known }
        let model = try currentCostModel()
        var choice = model.choose(bytes: bytes, worldSize: worldSize, segmentBytes: options.ringSegmentBytes,
                                  boardCapacity: board?.boardCapacity ?? 0)
        // Across hosts with several ranks on each, the hierarchy where it is predicted faster
        // than the ring (or, with constants that do not say how fast a host is inside, wherever
        // the ring would run).
        if choice == .ring, let hierarchy = layout.hierarchy(of: rank) {
            let ring = model.predictedSeconds(.ring, bytes: bytes, worldSize: worldSize, segmentBytes: options.ringSegmentBytes)
            let hierarchical = model.predictedHierarchicalSeconds(bytes: bytes, hosts: layout.hostCount, ranksPerHost: hierarchy.local.count)
            if hierarchical.map({ $0 < ring }) ?? true { choice = .hierarchical }
        }
        logger.debug("rank \(rank): all-reduce of \(bytes) bytes over \(worldSize) ranks: \(choice) (\(model))")
        automaticChoices.remember(choice, forBytes: bytes)
        return choice
    }

    /// The kernel of `op` on `dataType`, or an error naming `operation` where the operation does
    /// not apply to the type.
    func reductionKernel(_ dataType: DataType, _ op: ReduceOperation, operation: String) throws(CollectivesError) -> ReductionKernel {
        let operations = Ordinals.operations.count
        let slot = dataType.ordinal * operations + op.ordinal
        if kernels.isEmpty { kernels = Array(repeating: nil, count: Ordinals.dataTypes.count * operations) }
        if let known = kernels[slot] { return known }
        guard let kernel = ReductionKernel(dataType: dataType, operation: op) else {
            let applicable = ReduceOperation.allCases.filter { $0.applies(to: dataType) }.map(\.rawValue).joined(separator: ", ")
            throw CollectivesError(.invalidArgument, rank: rank, operation: operation,
                                   reason: "\(op) does not apply to \(dataType) (it takes \(applicable))")
        }
        kernels[slot] = kernel
        return kernel
    }

    /// `count` bytes as a number of `dataType` elements, or an error naming `operation`.
    func elementCount(_ bytes: Int, _ dataType: DataType, operation: String) throws(CollectivesError) -> Int {
        guard bytes % dataType.size == 0 else {
            throw CollectivesError(.invalidArgument, rank: rank, operation: operation,
                                   reason: "\(bytes) bytes is not a whole number of \(dataType) elements")
        }
        return bytes / dataType.size
    }
}

/// Memory lent to the communicator's thread for the length of one call.
struct LentMemory: @unchecked Sendable {
    let base: UnsafeMutableRawPointer?
    let count: Int

    init<T>(_ buffer: UnsafeMutableBufferPointer<T>) {
        base = UnsafeMutableRawPointer(buffer.baseAddress)
        count = buffer.count
    }

    init(_ buffer: UnsafeMutableRawBufferPointer) {
        base = buffer.baseAddress
        count = buffer.count
    }

    init<T>(_ buffer: UnsafeBufferPointer<T>) {
        base = UnsafeMutableRawPointer(mutating: buffer.baseAddress)
        count = buffer.count
    }

    /// The memory as the typed buffer it was lent as.
    func mutable<T>(_: T.Type) -> UnsafeMutableBufferPointer<T> {
        UnsafeMutableBufferPointer(start: base?.assumingMemoryBound(to: T.self), count: count)
    }

    /// The memory as the read-only typed buffer it was lent as.
    func readOnly<T>(_: T.Type) -> UnsafeBufferPointer<T> {
        UnsafeBufferPointer(start: base?.assumingMemoryBound(to: T.self), count: count)
    }
}

/// Carries an array's storage to the communicator's thread and back without copying it.
final class ArrayBox<T>: @unchecked Sendable {
    private var array: [T]

    init(_ array: [T]) { self.array = array }

    func withUnsafeMutableBufferPointer<R>(_ body: (UnsafeMutableBufferPointer<T>) throws(CollectivesError) -> R) throws(CollectivesError) -> R {
        try withMutableBuffer(&array, body)
    }

    func take() -> [T] {
        let value = array
        array = []
        return value
    }
}
