import CollectivesSystem
import CollectivesTransport

extension Communicator {
    /// Copies `root`'s buffer into every other rank's buffer. Every rank passes the same count.
    public func broadcast<T: CollectiveElement>(_ buffer: UnsafeMutableBufferPointer<T>, root: Int) throws(CollectivesError) {
        try queue.runHere { () throws(CollectivesError) in
            try performBroadcast(UnsafeMutableRawPointer(buffer.baseAddress), count: buffer.count, dataType: T.dataType, root: root)
        }
    }

    /// Broadcasts an array in place from `root`.
    public func broadcast<T: CollectiveElement>(_ array: inout [T], root: Int) throws(CollectivesError) {
        let result: Result<Void, CollectivesError> = array.withUnsafeMutableBufferPointer { buffer in
            Result { () throws(CollectivesError) in try broadcast(buffer, root: root) }
        }
        try result.get()
    }

    /// Reduces every rank's buffer into `root`'s, through `root` alone (the central-server
    /// pattern). Other ranks' buffers are unchanged.
    public func reduce<T: CollectiveElement>(_ buffer: UnsafeMutableBufferPointer<T>, op: ReduceOperation = .sum, root: Int) throws(CollectivesError) {
        try queue.runHere { () throws(CollectivesError) in
            try performReduce(UnsafeMutableRawPointer(buffer.baseAddress), count: buffer.count, dataType: T.dataType, op: op, root: root)
        }
    }

    /// Reduces an array into `root`'s.
    public func reduce<T: CollectiveElement>(_ array: inout [T], op: ReduceOperation = .sum, root: Int) throws(CollectivesError) {
        let result: Result<Void, CollectivesError> = array.withUnsafeMutableBufferPointer { buffer in
            Result { () throws(CollectivesError) in try reduce(buffer, op: op, root: root) }
        }
        try result.get()
    }

    private func checkRoot(_ root: Int, operation: String) throws(CollectivesError) {
        guard root >= 0, root < worldSize else {
            throw CollectivesError(.invalidArgument, rank: rank, operation: operation,
                                   reason: "root \(root) is outside 0..<\(worldSize)")
        }
    }

    func performBroadcast(_ base: UnsafeMutableRawPointer?, count: Int, dataType: DataType, root: Int) throws(CollectivesError) {
        try checkRoot(root, operation: "broadcast")
        let sequence = nextSequence()
        do {
            try CentralServer.broadcast(buffer: base, bytes: count * dataType.size, root: root, transport: transport,
                                        tag: sequence << 8 | CollectiveKind.broadcast.rawValue,
                                        deadline: operationDeadline(), workspace: workspace)
        } catch {
            throw failure(error, "broadcast #\(sequence) (\(count) × \(dataType), root \(root))")
        }
    }

    func performReduce(_ base: UnsafeMutableRawPointer?, count: Int, dataType: DataType, op: ReduceOperation, root: Int) throws(CollectivesError) {
        try checkRoot(root, operation: "reduce")
        let sequence = nextSequence()
        do {
            try CentralServer.reduce(buffer: base, count: count, elementSize: dataType.size,
                                     kernel: ReductionKernel(dataType: dataType, operation: op), root: root,
                                     transport: transport, tag: sequence << 8 | CollectiveKind.reduce.rawValue,
                                     deadline: operationDeadline(), workspace: workspace)
        } catch {
            throw failure(error, "reduce #\(sequence) (\(count) × \(dataType), \(op), root \(root))")
        }
    }

    /// Wraps and logs a transport error of `operation`.
    func failure(_ error: TransportError, _ operation: String) -> CollectivesError {
        let failure = CollectivesError(error, operation: operation)
        logger.error("\(failure)")
        return failure
    }
}
