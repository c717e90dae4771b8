/// Non-blocking forms: each starts its collective on the communicator's thread, after every
/// call issued before it, and returns at once with a ``CollectiveRequest`` to wait on (blocking,
/// `async`, or several at once with ``CollectiveRequest/waitAll(_:)``). Buffers must stay valid,
/// and untouched, until the request completes. Each behaves as its blocking form; argument
/// errors surface from the request's wait.
///
/// All-reduce (in place), broadcast, all-gather and reduce-scatter (out of place) have theirs
/// beside their blocking forms.
extension Communicator {
    /// Starts an out-of-place all-reduce.
    public func startAllReduce<T: CollectiveElement>(_ send: UnsafeBufferPointer<T>, into receive: UnsafeMutableBufferPointer<T>,
                                                     op: ReduceOperation = .sum, algorithm: Algorithm? = nil) -> CollectiveRequest {
        let s = LentMemory(send), r = LentMemory(receive)
        return queue.start { () throws(CollectivesError) in try self.allReduce(s.readOnly(T.self), into: r.mutable(T.self), op: op, algorithm: algorithm) }
    }

    /// Starts an all-reduce of untyped memory holding elements of `dataType` (a whole number
    /// of them; otherwise the request fails with ``CollectivesError/Kind/invalidArgument``).
    public func startAllReduce(_ buffer: UnsafeMutableRawBufferPointer, dataType: DataType, op: ReduceOperation = .sum,
                               algorithm: Algorithm? = nil) -> CollectiveRequest {
        let base = LentMemory(buffer)
        return queue.start { () throws(CollectivesError) in
            try self.allReduce(UnsafeMutableRawBufferPointer(start: base.base, count: base.count), dataType: dataType, op: op, algorithm: algorithm)
        }
    }

    /// Starts an out-of-place broadcast.
    public func startBroadcast<T: CollectiveElement>(_ send: UnsafeBufferPointer<T>, into receive: UnsafeMutableBufferPointer<T>, root: Int) -> CollectiveRequest {
        let s = LentMemory(send), r = LentMemory(receive)
        return queue.start { () throws(CollectivesError) in try self.broadcast(s.readOnly(T.self), into: r.mutable(T.self), root: root) }
    }

    /// Starts a reduce into the root's `buffer`.
    public func startReduce<T: CollectiveElement>(_ buffer: UnsafeMutableBufferPointer<T>, op: ReduceOperation = .sum, root: Int) -> CollectiveRequest {
        let b = LentMemory(buffer)
        return queue.start { () throws(CollectivesError) in try self.reduce(b.mutable(T.self), op: op, root: root) }
    }

    /// Starts an out-of-place reduce.
    public func startReduce<T: CollectiveElement>(_ send: UnsafeBufferPointer<T>, into receive: UnsafeMutableBufferPointer<T>,
                                                  op: ReduceOperation = .sum, root: Int) -> CollectiveRequest {
        let s = LentMemory(send), r = LentMemory(receive)
        return queue.start { () throws(CollectivesError) in try self.reduce(s.readOnly(T.self), into: r.mutable(T.self), op: op, root: root) }
    }

    /// Starts an in-place all-gather.
    public func startAllGather<T: CollectiveElement>(inPlace buffer: UnsafeMutableBufferPointer<T>) -> CollectiveRequest {
        let b = LentMemory(buffer)
        return queue.start { () throws(CollectivesError) in try self.allGather(inPlace: b.mutable(T.self)) }
    }

    /// Starts an in-place reduce-scatter.
    public func startReduceScatter<T: CollectiveElement>(inPlace buffer: UnsafeMutableBufferPointer<T>, op: ReduceOperation = .sum) -> CollectiveRequest {
        let b = LentMemory(buffer)
        return queue.start { () throws(CollectivesError) in try self.reduceScatter(inPlace: b.mutable(T.self), op: op) }
    }

    /// Starts an all-to-all.
    public func startAllToAll<T: CollectiveElement>(_ send: UnsafeBufferPointer<T>, into receive: UnsafeMutableBufferPointer<T>) -> CollectiveRequest {
        let s = LentMemory(send), r = LentMemory(receive)
        return queue.start { () throws(CollectivesError) in try self.allToAll(s.readOnly(T.self), into: r.mutable(T.self)) }
    }

    /// Starts an in-place all-to-all.
    public func startAllToAll<T: CollectiveElement>(inPlace buffer: UnsafeMutableBufferPointer<T>) -> CollectiveRequest {
        let b = LentMemory(buffer)
        return queue.start { () throws(CollectivesError) in try self.allToAll(inPlace: b.mutable(T.self)) }
    }

    /// Starts a gather.
    public func startGather<T: CollectiveElement>(_ send: UnsafeBufferPointer<T>, into receive: UnsafeMutableBufferPointer<T>, root: Int) -> CollectiveRequest {
        let s = LentMemory(send), r = LentMemory(receive)
        return queue.start { () throws(CollectivesError) in try self.gather(s.readOnly(T.self), into: r.mutable(T.self), root: root) }
    }

    /// Starts a scatter.
    public func startScatter<T: CollectiveElement>(_ send: UnsafeBufferPointer<T>, into receive: UnsafeMutableBufferPointer<T>, root: Int) -> CollectiveRequest {
        let s = LentMemory(send), r = LentMemory(receive)
        return queue.start { () throws(CollectivesError) in try self.scatter(s.readOnly(T.self), into: r.mutable(T.self), root: root) }
    }

    /// Starts a barrier: the request completes once every rank has started its own.
    public func startBarrier() -> CollectiveRequest {
        queue.start { () throws(CollectivesError) in try self.performBarrier() }
    }

    /// Starts a variable-size all-gather with known counts.
    public func startAllGatherVariable<T: CollectiveElement>(_ send: UnsafeBufferPointer<T>, into receive: UnsafeMutableBufferPointer<T>,
                                                             counts: [Int]) -> CollectiveRequest {
        let s = LentMemory(send), r = LentMemory(receive)
        return queue.start { () throws(CollectivesError) in try self.allGatherVariable(s.readOnly(T.self), into: r.mutable(T.self), counts: counts) }
    }

    /// Starts a variable-size gather with known counts.
    public func startGatherVariable<T: CollectiveElement>(_ send: UnsafeBufferPointer<T>, into receive: UnsafeMutableBufferPointer<T>,
                                                          counts: [Int], root: Int) -> CollectiveRequest {
        let s = LentMemory(send), r = LentMemory(receive)
        return queue.start { () throws(CollectivesError) in try self.gatherVariable(s.readOnly(T.self), into: r.mutable(T.self), counts: counts, root: root) }
    }

    /// Starts a variable-size scatter with known counts.
    public func startScatterVariable<T: CollectiveElement>(_ send: UnsafeBufferPointer<T>, counts: [Int], into receive: UnsafeMutableBufferPointer<T>,
                                                           root: Int) -> CollectiveRequest {
        let s = LentMemory(send), r = LentMemory(receive)
        return queue.start { () throws(CollectivesError) in try self.scatterVariable(s.readOnly(T.self), counts: counts, into: r.mutable(T.self), root: root) }
    }

    /// Starts a variable-size all-to-all with known counts.
    public func startAllToAllVariable<T: CollectiveElement>(_ send: UnsafeBufferPointer<T>, sendCounts: [Int],
                                                            into receive: UnsafeMutableBufferPointer<T>, receiveCounts: [Int]) -> CollectiveRequest {
        let s = LentMemory(send), r = LentMemory(receive)
        return queue.start { () throws(CollectivesError) in
            try self.allToAllVariable(s.readOnly(T.self), sendCounts: sendCounts, into: r.mutable(T.self), receiveCounts: receiveCounts)
        }
    }
}

extension Communicator {
    /// Starts `body`, made of this communicator's blocking calls, on the communicator's thread
    /// after every call issued before it, as the start forms above do: the non-blocking form of
    /// any blocking call, for bindings with one body per call (the C interface).
    package func startBlocking(_ body: @escaping @Sendable () throws(CollectivesError) -> Void) -> CollectiveRequest {
        queue.start(body)
    }
}
