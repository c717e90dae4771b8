import Collectives

/// The collectives ``CollectiveCheck`` can run, by the names the command lines use.
package enum CollectiveName: String, Sendable, CaseIterable, CustomStringConvertible {
    case allReduce = "all-reduce"
    case broadcast
    case reduce
    case allGather = "all-gather"
    case reduceScatter = "reduce-scatter"
    case allToAll = "all-to-all"
    case gather
    case scatter
    case barrier
    case sendReceive = "send-receive"
    /// Splits by parity and all-reduces in both halves while the parent all-reduces too.
    case split

    package var description: String { rawValue }

    /// Whether the collective combines values (and so takes an operation).
    package var reduces: Bool { self == .allReduce || self == .reduce || self == .reduceScatter || self == .split }
}

/// Runs one collective on deterministic inputs (``ReferencePattern``) and counts the elements of
/// this rank's result that differ from a sequential reference. Every rank of the communicator
/// calls it with the same arguments.
///
/// `count` is the per-rank element count: the whole buffer for all-reduce, broadcast and
/// reduce; one block for the others (whose `worldSize`-block buffers hold `worldSize × count`).
/// The root is `count % worldSize`, so that it moves as the counts change.
package enum CollectiveCheck {
    package static func wrongElements<T: CheckableElement>(
        _ collective: CollectiveName, _: T.Type, count: Int, op: ReduceOperation, algorithm: Algorithm? = nil,
        inPlace: Bool = true, communicator: Communicator
    ) throws -> Int {
        let check = Check<T>(communicator: communicator, count: count, op: op, algorithm: algorithm, inPlace: inPlace, collective: collective)
        switch collective {
        case .allReduce: return try check.allReduce()
        case .broadcast: return try check.broadcast()
        case .reduce: return try check.reduce()
        case .allGather: return try check.allGather()
        case .reduceScatter: return try check.reduceScatter()
        case .allToAll: return try check.allToAll()
        case .gather: return try check.gather()
        case .scatter: return try check.scatter()
        case .barrier: return try check.barrier()
        case .sendReceive: return try check.sendReceive()
        case .split: return try check.split()
        }
    }
}

/// One check of one collective on this rank: its inputs, the reference, and the call in each form.
private struct Check<T: CheckableElement> {
    let communicator: Communicator
    let count: Int
    let op: ReduceOperation
    let algorithm: Algorithm?
    let inPlace: Bool
    let n: Int
    let rank: Int
    let root: Int
    let reference: CollectiveReference

    init(communicator: Communicator, count: Int, op: ReduceOperation, algorithm: Algorithm?, inPlace: Bool, collective: CollectiveName) {
        self.communicator = communicator
        self.count = count
        self.op = op
        self.algorithm = algorithm
        self.inPlace = inPlace
        n = communicator.worldSize
        rank = communicator.rank
        root = count % n
        reference = CollectiveReference(collective, worldSize: n, rank: rank, blockCount: count, op: op, root: root)
    }

    func input(_ rank: Int, _ index: Int) -> T { T(pattern: reference.input(rank: rank, index: index)) }
    func filled(_ rank: Int, _ length: Int) -> [T] { (0..<length).map { input(rank, $0) } }
    func countWrong(_ output: [T]) -> Int { output.withUnsafeBufferPointer { reference.countWrong($0) } }

    func allReduce() throws -> Int {
        var values = filled(rank, count)
        if inPlace {
            try communicator.allReduce(&values, op: op, algorithm: algorithm)
        } else {
            var output = [T](repeating: .zero, count: count)
            try values.withUnsafeBufferPointer { send in
                try output.withUnsafeMutableBufferPointer { receive in
                    try communicator.allReduce(send, into: receive, op: op, algorithm: algorithm)
                }
            }
            if values != filled(rank, count) { return count + 1 }
            values = output
        }
        return countWrong(values)
    }

    func broadcast() throws -> Int {
        if inPlace {
            var values = rank == root ? filled(rank, count) : [T](repeating: .zero, count: count)
            try communicator.broadcast(&values, root: root)
            return countWrong(values)
        }
        // Out of place: the root's send buffer is only read; other ranks pass none.
        let send = rank == root ? filled(rank, count) : []
        var output = [T](repeating: .zero, count: count)
        try send.withUnsafeBufferPointer { s in
            try output.withUnsafeMutableBufferPointer { try communicator.broadcast(s, into: $0, root: root) }
        }
        if rank == root && send != filled(rank, count) { return count + 1 }
        return countWrong(output)
    }

    func reduce() throws -> Int {
        let original = filled(rank, count)
        if inPlace {
            var values = original
            try communicator.reduce(&values, op: op, root: root)
            if rank == root { return countWrong(values) }
            return values == original ? 0 : count + 1
        }
        // Out of place: every send buffer is only read; only the root passes a receive buffer.
        let send = original
        var output = [T](repeating: .zero, count: rank == root ? count : 0)
        try send.withUnsafeBufferPointer { s in
            try output.withUnsafeMutableBufferPointer { try communicator.reduce(s, into: $0, op: op, root: root) }
        }
        if send != original { return count + 1 }
        return rank == root ? countWrong(output) : 0
    }

    func allGather() throws -> Int {
        let mine = filled(rank, count)
        let output: [T]
        if inPlace {
            var buffer = [T](repeating: .zero, count: count * n)
            for i in 0..<count { buffer[rank * count + i] = mine[i] }
            try buffer.withUnsafeMutableBufferPointer { try communicator.allGather(inPlace: $0) }
            output = buffer
        } else {
            output = try communicator.allGather(mine)
        }
        guard output.count == count * n else { return count * n + 1 }
        return countWrong(output)
    }

    func reduceScatter() throws -> Int {
        var whole = filled(rank, count * n)
        let output: [T]
        if inPlace {
            try whole.withUnsafeMutableBufferPointer { try communicator.reduceScatter(inPlace: $0, op: op) }
            output = Array(whole[(rank * count)..<((rank + 1) * count)])
        } else {
            output = try communicator.reduceScatter(whole, op: op)
        }
        guard output.count == count else { return count + 1 }
        return countWrong(output)
    }

    func allToAll() throws -> Int {
        // Rank j's block for rank r is its inputs at indices r·count ..< (r+1)·count.
        let mine = filled(rank, count * n)
        let output: [T]
        if inPlace {
            var buffer = mine
            try buffer.withUnsafeMutableBufferPointer { try communicator.allToAll(inPlace: $0) }
            output = buffer
        } else {
            output = try communicator.allToAll(mine)
        }
        guard output.count == count * n else { return count * n + 1 }
        return countWrong(output)
    }

    func gather() throws -> Int {
        if inPlace {
            let output = try communicator.gather(filled(rank, count), root: root)
            guard rank == root else { return output.isEmpty ? 0 : 1 }
            guard output.count == count * n else { return count * n + 1 }
            return countWrong(output)
        }
        // The buffer form: only the root passes a receive buffer.
        let send = filled(rank, count)
        var output = [T](repeating: .zero, count: rank == root ? count * n : 0)
        try send.withUnsafeBufferPointer { s in
            try output.withUnsafeMutableBufferPointer { try communicator.gather(s, into: $0, root: root) }
        }
        return rank == root ? countWrong(output) : 0
    }

    func scatter() throws -> Int {
        if inPlace {
            let output = try communicator.scatter(rank == root ? filled(root, count * n) : [], count: count, root: root)
            return countWrong(output)
        }
        // The buffer form: only the root passes a send buffer, which is only read.
        let send = rank == root ? filled(root, count * n) : []
        var output = [T](repeating: .zero, count: count)
        try send.withUnsafeBufferPointer { s in
            try output.withUnsafeMutableBufferPointer { try communicator.scatter(s, into: $0, root: root) }
        }
        if rank == root && send != filled(root, count * n) { return count * n + 1 }
        return countWrong(output)
    }

    func barrier() throws -> Int {
        try communicator.barrier()
        return 0
    }

    func sendReceive() throws -> Int {
        // A ring shift with non-blocking sends and receives, tagged by the sender.
        guard n > 1 else { return 0 }
        let right = (rank + 1) % n, left = (rank + n - 1) % n
        let outgoing = filled(rank, count)
        var incoming = [T](repeating: .zero, count: count)
        try outgoing.withUnsafeBufferPointer { send in
            try incoming.withUnsafeMutableBufferPointer { receive in
                let r = communicator.startReceive(into: receive, from: left, tag: left)
                let s = communicator.startSend(send, to: right, tag: rank)
                try r.wait()
                try s.wait()
            }
        }
        return countWrong(incoming)
    }

    func split() throws -> Int {
        // Halves by parity, ranked in reverse; both all-reduce while the parent does too.
        guard let half = try communicator.split(color: rank % 2, key: -rank) else { return 1 }
        defer { half.close() }
        let members = (0..<n).filter { $0 % 2 == rank % 2 }
        guard half.worldSize == members.count, half.rank == members.count - 1 - members.firstIndex(of: rank)! else { return 1 }
        // Memory of our own: it is lent to the half's thread while the parent works.
        let lent = UnsafeMutableBufferPointer<T>.allocate(capacity: count)
        defer { lent.deallocate() }
        _ = lent.initialize(from: filled(rank, count))
        var everyone = filled(rank, count)
        let pending = half.startAllReduce(lent, op: .max)
        try communicator.allReduce(&everyone, op: op, algorithm: algorithm)
        try pending.wait()
        var halfWrong = 0
        let arithmetic = ReferencePattern.Arithmetic(T.dataType)
        for i in 0..<count where lent[i].checkedValue != members.map({ arithmetic.result(arithmetic.held(reference.input(rank: $0, index: i))) }).max() {
            halfWrong += 1
        }
        return halfWrong + countWrong(everyone)
    }
}
