/// The `async` form of every collective: the work and the waiting happen on the communicator's
/// own thread, in the order the calls were issued with every other form, so no cooperative
/// thread is blocked. Buffers must stay valid until the call returns; arrays are handed over and
/// back without copying. Each behaves as its blocking form, which its documentation describes.
extension Communicator {
    /// Runs a blocking form on the communicator's thread.
    private func onWorker<R: Sendable>(_ body: @escaping @Sendable () throws(CollectivesError) -> R) async throws(CollectivesError) -> R {
        try await queue.runOnWorker(body)
    }

    /// Lends an array's storage to the communicator's thread for one blocking form.
    private func lending<T>(_ array: inout [T], _ body: @escaping @Sendable (UnsafeMutableBufferPointer<T>) throws(CollectivesError) -> Void) async throws(CollectivesError) {
        let box = ArrayBox(array)
        array = []
        defer { array = box.take() }
        try await queue.runOnWorker { () throws(CollectivesError) in try box.withUnsafeMutableBufferPointer(body) }
    }

    // MARK: All-reduce

    /// The `async` form of ``allReduce(_:into:op:algorithm:)``.
    public func allReduce<T: CollectiveElement>(_ send: UnsafeBufferPointer<T>, into receive: UnsafeMutableBufferPointer<T>, op: ReduceOperation = .sum, algorithm: Algorithm? = nil) async throws(CollectivesError) {
        let s = LentMemory(send), r = LentMemory(receive)
        try await onWorker { () throws(CollectivesError) in try self.allReduce(s.readOnly(T.self), into: r.mutable(T.self), op: op, algorithm: algorithm) }
    }

    /// The `async` form of the element-wise custom all-reduce.
    public func allReduce<T: CollectiveElement>(_ array: inout [T], combining combine: @escaping @Sendable (inout T, T) -> Void) async throws(CollectivesError) {
        try await lending(&array) { (buffer) throws(CollectivesError) in try self.allReduce(buffer, combining: combine) }
    }

    // MARK: Broadcast and reduce

    /// The `async` form of ``broadcast(_:root:)-(UnsafeMutableBufferPointer<T>,_)``.
    public func broadcast<T: CollectiveElement>(_ buffer: UnsafeMutableBufferPointer<T>, root: Int) async throws(CollectivesError) {
        let b = LentMemory(buffer)
        try await onWorker { () throws(CollectivesError) in try self.broadcast(b.mutable(T.self), root: root) }
    }

    /// The `async` form of ``broadcast(_:root:)-([T],_)``.
    public func broadcast<T: CollectiveElement>(_ array: inout [T], root: Int) async throws(CollectivesError) {
        try await lending(&array) { (buffer) throws(CollectivesError) in try self.broadcast(buffer, root: root) }
    }

    /// The `async` form of ``broadcast(_:into:root:)``.
    public func broadcast<T: CollectiveElement>(_ send: UnsafeBufferPointer<T>, into receive: UnsafeMutableBufferPointer<T>, root: Int) async throws(CollectivesError) {
        let s = LentMemory(send), r = LentMemory(receive)
        try await onWorker { () throws(CollectivesError) in try self.broadcast(s.readOnly(T.self), into: r.mutable(T.self), root: root) }
    }

    /// The `async` form of ``reduce(_:op:root:)-(UnsafeMutableBufferPointer<T>,_,_)``.
    public func reduce<T: CollectiveElement>(_ buffer: UnsafeMutableBufferPointer<T>, op: ReduceOperation = .sum, root: Int) async throws(CollectivesError) {
        let b = LentMemory(buffer)
        try await onWorker { () throws(CollectivesError) in try self.reduce(b.mutable(T.self), op: op, root: root) }
    }

    /// The `async` form of ``reduce(_:op:root:)-([T],_,_)``.
    public func reduce<T: CollectiveElement>(_ array: inout [T], op: ReduceOperation = .sum, root: Int) async throws(CollectivesError) {
        try await lending(&array) { (buffer) throws(CollectivesError) in try self.reduce(buffer, op: op, root: root) }
    }

    /// The `async` form of ``reduce(_:into:op:root:)``.
    public func reduce<T: CollectiveElement>(_ send: UnsafeBufferPointer<T>, into receive: UnsafeMutableBufferPointer<T>, op: ReduceOperation = .sum, root: Int) async throws(CollectivesError) {
        let s = LentMemory(send), r = LentMemory(receive)
        try await onWorker { () throws(CollectivesError) in try self.reduce(s.readOnly(T.self), into: r.mutable(T.self), op: op, root: root) }
    }

    // MARK: All-gather and reduce-scatter

    /// The `async` form of ``allGather(_:into:)``.
    public func allGather<T: CollectiveElement>(_ send: UnsafeBufferPointer<T>, into receive: UnsafeMutableBufferPointer<T>) async throws(CollectivesError) {
        let s = LentMemory(send), r = LentMemory(receive)
        try await onWorker { () throws(CollectivesError) in try self.allGather(s.readOnly(T.self), into: r.mutable(T.self)) }
    }

    /// The `async` form of ``allGather(inPlace:)``.
    public func allGather<T: CollectiveElement>(inPlace buffer: UnsafeMutableBufferPointer<T>) async throws(CollectivesError) {
        let b = LentMemory(buffer)
        try await onWorker { () throws(CollectivesError) in try self.allGather(inPlace: b.mutable(T.self)) }
    }

    /// The `async` form of ``allGather(_:)``.
    public func allGather<T: CollectiveElement>(_ array: [T]) async throws(CollectivesError) -> [T] {
        try await onWorker { () throws(CollectivesError) in try self.allGather(array) }
    }

    /// The `async` form of ``reduceScatter(_:into:op:)``.
    public func reduceScatter<T: CollectiveElement>(_ send: UnsafeBufferPointer<T>, into receive: UnsafeMutableBufferPointer<T>, op: ReduceOperation = .sum) async throws(CollectivesError) {
        let s = LentMemory(send), r = LentMemory(receive)
        try await onWorker { () throws(CollectivesError) in try self.reduceScatter(s.readOnly(T.self), into: r.mutable(T.self), op: op) }
    }

    /// The `async` form of ``reduceScatter(inPlace:op:)``.
    public func reduceScatter<T: CollectiveElement>(inPlace buffer: UnsafeMutableBufferPointer<T>, op: ReduceOperation = .sum) async throws(CollectivesError) {
        let b = LentMemory(buffer)
        try await onWorker { () throws(CollectivesError) in try self.reduceScatter(inPlace: b.mutable(T.self), op: op) }
    }

    /// The `async` form of ``reduceScatter(_:op:)``.
    public func reduceScatter<T: CollectiveElement>(_ array: [T], op: ReduceOperation = .sum) async throws(CollectivesError) -> [T] {
        try await onWorker { () throws(CollectivesError) in try self.reduceScatter(array, op: op) }
    }

    // MARK: All-to-all, gather, scatter

    /// The `async` form of ``allToAll(_:into:)``.
    public func allToAll<T: CollectiveElement>(_ send: UnsafeBufferPointer<T>, into receive: UnsafeMutableBufferPointer<T>) async throws(CollectivesError) {
        let s = LentMemory(send), r = LentMemory(receive)
        try await onWorker { () throws(CollectivesError) in try self.allToAll(s.readOnly(T.self), into: r.mutable(T.self)) }
    }

    /// The `async` form of ``allToAll(inPlace:)``.
    public func allToAll<T: CollectiveElement>(inPlace buffer: UnsafeMutableBufferPointer<T>) async throws(CollectivesError) {
        let b = LentMemory(buffer)
        try await onWorker { () throws(CollectivesError) in try self.allToAll(inPlace: b.mutable(T.self)) }
    }

    /// The `async` form of ``allToAll(_:)``.
    public func allToAll<T: CollectiveElement>(_ array: [T]) async throws(CollectivesError) -> [T] {
        try await onWorker { () throws(CollectivesError) in try self.allToAll(array) }
    }

    /// The `async` form of ``gather(_:into:root:)``.
    public func gather<T: CollectiveElement>(_ send: UnsafeBufferPointer<T>, into receive: UnsafeMutableBufferPointer<T>, root: Int) async throws(CollectivesError) {
        let s = LentMemory(send), r = LentMemory(receive)
        try await onWorker { () throws(CollectivesError) in try self.gather(s.readOnly(T.self), into: r.mutable(T.self), root: root) }
    }

    /// The `async` form of ``gather(_:root:)``.
    public func gather<T: CollectiveElement>(_ array: [T], root: Int) async throws(CollectivesError) -> [T] {
        try await onWorker { () throws(CollectivesError) in try self.gather(array, root: root) }
    }

    /// The `async` form of ``scatter(_:into:root:)``.
    public func scatter<T: CollectiveElement>(_ send: UnsafeBufferPointer<T>, into receive: UnsafeMutableBufferPointer<T>, root: Int) async throws(CollectivesError) {
        let s = LentMemory(send), r = LentMemory(receive)
        try await onWorker { () throws(CollectivesError) in try self.scatter(s.readOnly(T.self), into: r.mutable(T.self), root: root) }
    }

    /// The `async` form of ``scatter(_:count:root:)``.
    public func scatter<T: CollectiveElement>(_ array: [T], count: Int, root: Int) async throws(CollectivesError) -> [T] {
        try await onWorker { () throws(CollectivesError) in try self.scatter(array, count: count, root: root) }
    }

    // MARK: Variable-size and object collectives

    /// The `async` form of ``allGatherVariable(_:)``.
    public func allGatherVariable<T: CollectiveElement>(_ array: [T]) async throws(CollectivesError) -> [[T]] {
        try await onWorker { () throws(CollectivesError) in try self.allGatherVariable(array) }
    }

    /// The `async` form of ``gatherVariable(_:root:)``.
    public func gatherVariable<T: CollectiveElement>(_ array: [T], root: Int) async throws(CollectivesError) -> [[T]] {
        try await onWorker { () throws(CollectivesError) in try self.gatherVariable(array, root: root) }
    }

    /// The `async` form of ``scatterVariable(_:root:)``.
    public func scatterVariable<T: CollectiveElement>(_ arrays: [[T]], root: Int) async throws(CollectivesError) -> [T] {
        try await onWorker { () throws(CollectivesError) in try self.scatterVariable(arrays, root: root) }
    }

    /// The `async` form of ``allToAllVariable(_:)``.
    public func allToAllVariable<T: CollectiveElement>(_ arrays: [[T]]) async throws(CollectivesError) -> [[T]] {
        try await onWorker { () throws(CollectivesError) in try self.allToAllVariable(arrays) }
    }

    /// The `async` form of ``broadcast(object:root:)``.
    public func broadcast<C: Codable & Sendable>(object: C, root: Int) async throws(CollectivesError) -> C {
        try await onWorker { () throws(CollectivesError) in try self.broadcast(object: object, root: root) }
    }

    /// The `async` form of ``allGather(object:)``.
    public func allGather<C: Codable & Sendable>(object: C) async throws(CollectivesError) -> [C] {
        try await onWorker { () throws(CollectivesError) in try self.allGather(object: object) }
    }

    /// The `async` form of ``gather(object:root:)``.
    public func gather<C: Codable & Sendable>(object: C, root: Int) async throws(CollectivesError) -> [C] {
        try await onWorker { () throws(CollectivesError) in try self.gather(object: object, root: root) }
    }

    /// The `async` form of ``scatter(objects:root:)``.
    public func scatter<C: Codable & Sendable>(objects: [C], root: Int) async throws(CollectivesError) -> C {
        try await onWorker { () throws(CollectivesError) in try self.scatter(objects: objects, root: root) }
    }

    // MARK: Point to point

    /// The `async` form of ``send(_:to:tag:)-(UnsafeBufferPointer<T>,_,_)``.
    public func send<T: CollectiveElement>(_ buffer: UnsafeBufferPointer<T>, to peer: Int, tag: Int = 0) async throws(CollectivesError) {
        let b = LentMemory(buffer)
        try await onWorker { () throws(CollectivesError) in try self.send(b.readOnly(T.self), to: peer, tag: tag) }
    }

    /// The `async` form of ``send(_:to:tag:)-([T],_,_)``.
    public func send<T: CollectiveElement>(_ array: [T], to peer: Int, tag: Int = 0) async throws(CollectivesError) {
        try await onWorker { () throws(CollectivesError) in try self.send(array, to: peer, tag: tag) }
    }

    /// The `async` form of ``receive(into:from:tag:)``.
    public func receive<T: CollectiveElement>(into buffer: UnsafeMutableBufferPointer<T>, from peer: Int, tag: Int = 0) async throws(CollectivesError) {
        let b = LentMemory(buffer)
        try await onWorker { () throws(CollectivesError) in try self.receive(into: b.mutable(T.self), from: peer, tag: tag) }
    }

    /// The `async` form of ``receive(_:count:from:tag:)``.
    public func receive<T: CollectiveElement>(_: T.Type = T.self, count: Int, from peer: Int, tag: Int = 0) async throws(CollectivesError) -> [T] {
        try await onWorker { () throws(CollectivesError) in try self.receive(T.self, count: count, from: peer, tag: tag) }
    }
}
