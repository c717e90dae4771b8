import Collectives

/// Checks of the `async` and non-blocking (`start…`) forms of every collective, and of fused
/// all-reduce groups, against the same sequential references as the blocking forms.
package enum FormsCheck {
    /// Every collective through its `async` form, then through its `start…` form with all the
    /// requests of one round awaited together; returns the number of wrong results.
    package static func asyncAndStartForms<T: CheckableElement>(_: T.Type, count: Int, communicator c: Communicator) async throws -> Int {
        let n = c.worldSize, rank = c.rank, root = count % n
        func reference(_ collective: CollectiveName, _ op: ReduceOperation = .max) -> CollectiveReference {
            CollectiveReference(collective, worldSize: n, rank: rank, blockCount: count, op: op, root: root)
        }
        func input(_ collective: CollectiveName, _ length: Int, of owner: Int? = nil) -> [T] {
            let r = reference(collective)
            return (0..<length).map { T(pattern: r.input(rank: owner ?? rank, index: $0)) }
        }
        func wrong(_ collective: CollectiveName, _ output: [T]) -> Int {
            let r = reference(collective)
            guard output.count == r.outputCount else { return output.count + 1 }
            return output.withUnsafeBufferPointer { r.countWrong($0) }
        }
        var errors = 0

        // async forms.
        var values = input(.allReduce, count)
        try await c.allReduce(&values, op: .max)
        errors += wrong(.allReduce, values)
        values = rank == root ? input(.broadcast, count) : [T](repeating: .zero, count: count)
        try await c.broadcast(&values, root: root)
        errors += wrong(.broadcast, values)
        values = input(.reduce, count)
        try await c.reduce(&values, op: .max, root: root)
        if rank == root { errors += wrong(.reduce, values) }
        errors += wrong(.allGather, try await c.allGather(input(.allGather, count)))
        errors += wrong(.reduceScatter, try await c.reduceScatter(input(.reduceScatter, count * n), op: .max))
        errors += wrong(.allToAll, try await c.allToAll(input(.allToAll, count * n)))
        errors += wrong(.gather, try await c.gather(input(.gather, count), root: root))
        errors += wrong(.scatter, try await c.scatter(rank == root ? input(.scatter, count * n) : [], count: count, root: root))
        // A ring of messages: even ranks send first, odd ranks receive first.
        if n > 1 {
            let right = (rank + 1) % n, left = (rank + n - 1) % n
            let outgoing = input(.sendReceive, count)
            var incoming: [T] = []
            if rank % 2 == 0 {
                try await c.send(outgoing, to: right, tag: 3)
                incoming = try await c.receive(T.self, count: count, from: left, tag: 3)
            } else {
                incoming = try await c.receive(T.self, count: count, from: left, tag: 3)
                try await c.send(outgoing, to: right, tag: 3)
            }
            // With an odd number of ranks the last even rank sends to rank 0, also even: it
            // has sent already, and rank 0 receives after its own send, so nothing waits forever.
            errors += wrong(.sendReceive, incoming)
            // Started both ways at once and awaited together with a collective's request.
            let buffers = Buffers<T>()
            defer { buffers.release() }
            let into = buffers.make([T](repeating: .zero, count: count)), from = buffers.make(outgoing)
            let receive = c.startReceive(into: into, from: left, tag: 4)
            let send = c.startSend(UnsafeBufferPointer(from), to: right, tag: 4)
            try await CollectiveRequest.waitAll([receive, send, c.startBarrier()])
            try await receive.wait()  // again: the same outcome at once
            errors += wrong(.sendReceive, Array(into))
        }
        try await c.barrier()

        // start… forms, all in flight together.
        let buffers = Buffers<T>()
        defer { buffers.release() }
        let reduced = buffers.make(input(.allReduce, count))
        let broadcastBuffer = buffers.make(rank == root ? input(.broadcast, count) : [T](repeating: .zero, count: count))
        let reduceBuffer = buffers.make(input(.reduce, count))
        let gatherIn = buffers.make(input(.allGather, count)), gatherOut = buffers.make([T](repeating: .zero, count: count * n))
        let scatterIn = buffers.make(input(.reduceScatter, count * n)), scatterOut = buffers.make([T](repeating: .zero, count: count))
        let allToAllBuffer = buffers.make(input(.allToAll, count * n))
        let rootedIn = buffers.make(input(.gather, count)), rootedOut = buffers.make([T](repeating: .zero, count: rank == root ? count * n : 0))
        let spreadIn = buffers.make(rank == root ? input(.scatter, count * n) : []), spreadOut = buffers.make([T](repeating: .zero, count: count))
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
        errors += wrong(.allReduce, Array(reduced))
        errors += wrong(.broadcast, Array(broadcastBuffer))
        if rank == root { errors += wrong(.reduce, Array(reduceBuffer)) }
        errors += wrong(.allGather, Array(gatherOut))
        errors += wrong(.reduceScatter, Array(scatterOut))
        errors += wrong(.allToAll, Array(allToAllBuffer))
        errors += wrong(.gather, Array(rootedOut))
        errors += wrong(.scatter, Array(spreadOut))
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
