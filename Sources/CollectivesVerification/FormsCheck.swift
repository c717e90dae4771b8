import Collectives

/// Checks of the `async` and non-blocking (`start…`) forms of every collective, and of fused
/// all-reduce groups, against the same sequential references as the blocking forms.
package enum FormsCheck {
    /// Every collective through its `async` form, then through its `start…` form with all the
    /// requests of one round awaited together; returns the number of wrong results.
    package static func asyncAndStartForms<T: CheckableElement>(_: T.Type, count: Int, communicator c: Communicator) async throws -> Int {
        let oracle = FormsOracle<T>(worldSize: c.worldSize, rank: c.rank, count: count)
        var errors = try await asyncForms(c, oracle)
        if c.worldSize > 1 { errors += try await pointToPointForms(c, oracle) }
        try await c.barrier()
        return errors + (try await startForms(c, oracle))
    }

    /// The `async` form of every collective.
    private static func asyncForms<T: CheckableElement>(_ c: Communicator, _ o: FormsOracle<T>) async throws -> Int {
        let (count, n, rank, root) = (o.count, o.worldSize, o.rank, o.root)
        var errors = 0
        var values = o.input(.allReduce, count)
        try await c.allReduce(&values, op: .max)
        errors += o.wrong(.allReduce, values)
        values = rank == root ? o.input(.broadcast, count) : [T](repeating: .zero, count: count)
        try await c.broadcast(&values, root: root)
        errors += o.wrong(.broadcast, values)
        values = o.input(.reduce, count)
        try await c.reduce(&values, op: .max, root: root)
        if rank == root { errors += o.wrong(.reduce, values) }
        errors += o.wrong(.allGather, try await c.allGather(o.input(.allGather, count)))
        errors += o.wrong(.reduceScatter, try await c.reduceScatter(o.input(.reduceScatter, count * n), op: .max))
        errors += o.wrong(.allToAll, try await c.allToAll(o.input(.allToAll, count * n)))
        errors += o.wrong(.gather, try await c.gather(o.input(.gather, count), root: root))
        errors += o.wrong(.scatter, try await c.scatter(rank == root ? o.input(.scatter, count * n) : [], count: count, root: root))
        return errors
    }

    /// A ring of messages: even ranks send first, odd ranks receive first; then the same
    /// started both ways at once and awaited together with a collective's request.
    private static func pointToPointForms<T: CheckableElement>(_ c: Communicator, _ o: FormsOracle<T>) async throws -> Int {
        let (count, n, rank) = (o.count, o.worldSize, o.rank)
        let right = (rank + 1) % n, left = (rank + n - 1) % n
        let outgoing = o.input(.sendReceive, count)
        var incoming: [T] = []
        if rank % 2 == 0 {
            try await c.send(outgoing, to: right, tag: 3)
            incoming = try await c.receive(T.self, count: count, from: left, tag: 3)
        } else {
            incoming = try await c.receive(T.self, count: count, from: left, tag: 3)
            try await c.send(outgoing, to: right, tag: 3)
        }
        // With an odd number of ranks the last even rank sends to rank 0, also even: it has
        // sent already, and rank 0 receives after its own send, so nothing waits forever.
        var errors = o.wrong(.sendReceive, incoming)
        let buffers = Buffers<T>()
        defer { buffers.release() }
        let into = buffers.make([T](repeating: .zero, count: count)), from = buffers.make(outgoing)
        let receive = c.startReceive(into: into, from: left, tag: 4)
        let send = c.startSend(UnsafeBufferPointer(from), to: right, tag: 4)
        try await CollectiveRequest.waitAll([receive, send, c.startBarrier()])
        try await receive.wait()  // again: the same outcome at once
        errors += o.wrong(.sendReceive, Array(into))
        return errors
    }

    /// The `start…` form of every collective, all in flight together.
    private static func startForms<T: CheckableElement>(_ c: Communicator, _ o: FormsOracle<T>) async throws -> Int {
        let (count, n, rank, root) = (o.count, o.worldSize, o.rank, o.root)
        let buffers = Buffers<T>()
        defer { buffers.release() }
        let reduced = buffers.make(o.input(.allReduce, count))
        let broadcastBuffer = buffers.make(rank == root ? o.input(.broadcast, count) : [T](repeating: .zero, count: count))
        let reduceBuffer = buffers.make(o.input(.reduce, count))
        let gatherIn = buffers.make(o.input(.allGather, count)), gatherOut = buffers.make([T](repeating: .zero, count: count * n))
        let scatterIn = buffers.make(o.input(.reduceScatter, count * n)), scatterOut = buffers.make([T](repeating: .zero, count: count))
        let allToAllBuffer = buffers.make(o.input(.allToAll, count * n))
        let rootedIn = buffers.make(o.input(.gather, count)), rootedOut = buffers.make([T](repeating: .zero, count: rank == root ? count * n : 0))
        let spreadIn = buffers.make(rank == root ? o.input(.scatter, count * n) : []), spreadOut = buffers.make([T](repeating: .zero, count: count))
        let requests = [
            c.startAllReduce(reduced, op: .max),
            c.startBroadcast(broadcastBuffer, root: root),
            c.startReduce(reduceBuffer, op: .max, root: root),
            c.startAllGather(UnsafeBufferPointer(gatherIn), into: gatherOut),
            c.startReduceScatter(UnsafeBufferPointer(scatterIn), into: scatterOut, op: .max),
            c.startAllToAll(inPlace: allToAllBuffer),
            c.startGather(UnsafeBufferPointer(rootedIn), into: rootedOut, root: root),
            c.startScatter(UnsafeBufferPointer(spreadIn), into: spreadOut, root: root),
            c.startBarrier(),
        ]
        try await CollectiveRequest.waitAll(requests)
        var errors = o.wrong(.allReduce, Array(reduced)) + o.wrong(.broadcast, Array(broadcastBuffer))
        if rank == root { errors += o.wrong(.reduce, Array(reduceBuffer)) }
        errors += o.wrong(.allGather, Array(gatherOut)) + o.wrong(.reduceScatter, Array(scatterOut))
        errors += o.wrong(.allToAll, Array(allToAllBuffer)) + o.wrong(.gather, Array(rootedOut)) + o.wrong(.scatter, Array(spreadOut))
        if !requests.allSatisfy(\.isComplete) { errors += 1 }
        return errors
    }

    /// A fused group: three sums (one empty), a maximum and a bitwise or where the type takes
    /// one, each compared with its reference as if it had run alone.
    package static func fusedGroup<T: CheckableElement>(_: T.Type, count: Int, communicator c: Communicator) throws -> Int {
        let n = c.worldSize, rank = c.rank
        let buffers = Buffers<T>()
        defer { buffers.release() }
        var plan: [(ReduceOperation, Int)] = [(.max, count + 1)]
        if ReduceOperation.sum.applies(to: T.dataType) { plan += [(.sum, count), (.sum, 0), (.sum, count + 2)] }
        if ReduceOperation.bitwiseOr.applies(to: T.dataType) { plan.append((.bitwiseOr, count)) }
        let lent = plan.map { op, length in
            buffers.make((0..<length).map { T(pattern: ReferencePattern.input(rank: rank, index: $0, op: op)) })
        }
        try c.group { group in
            for (buffer, (op, _)) in zip(lent, plan) { group.allReduce(buffer, op: op) }
        }
        var errors = 0
        for (buffer, (op, _)) in zip(lent, plan) {
            errors += ReferencePattern.countWrong(UnsafeBufferPointer(buffer), worldSize: n, op: op)
        }
        return errors
    }
}

/// Buffers allocated for one check and released together.
final class Buffers<T> {
    private var all: [UnsafeMutableBufferPointer<T>] = []

    func make(_ values: [T]) -> UnsafeMutableBufferPointer<T> {
        let buffer = UnsafeMutableBufferPointer<T>.allocate(capacity: values.count)
        _ = buffer.initialize(from: values)
        all.append(buffer)
        return buffer
    }

    func release() { all.forEach { $0.deallocate() } }
}

/// Inputs and the number of wrong results for the forms checks: each collective's sequential
/// reference (maximum, root `count % n`), as the blocking forms are checked against.
private struct FormsOracle<T: CheckableElement> {
    let worldSize: Int
    let rank: Int
    let count: Int
    var root: Int { count % worldSize }

    func reference(_ collective: CollectiveName, _ op: ReduceOperation = .max) -> CollectiveReference {
        CollectiveReference(collective, worldSize: worldSize, rank: rank, blockCount: count, op: op, root: root)
    }

    /// This rank's input (or `owner`'s) of `length` elements.
    func input(_ collective: CollectiveName, _ length: Int, of owner: Int? = nil) -> [T] {
        let r = reference(collective)
        return (0..<length).map { T(pattern: r.input(rank: owner ?? rank, index: $0)) }
    }

    /// The elements of `output` that differ from the reference (all of them, and one more,
    /// when its length is wrong).
    func wrong(_ collective: CollectiveName, _ output: [T]) -> Int {
        let r = reference(collective)
        guard output.count == r.outputCount else { return output.count + 1 }
        return output.withUnsafeBufferPointer { r.countWrong($0) }
    }
}
