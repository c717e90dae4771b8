import Collectives

/// Checks of the collectives whose inputs are not one buffer per rank of one length: the
/// variable-size collectives, all-reduce with a caller's reduction, and the object collectives.
/// Each returns the number of wrong results on this rank, computed against a sequential
/// reference built here from the same deterministic inputs every rank can compute.
package enum ExtendedCheck {
    /// How many elements rank `rank` contributes to a variable-size collective of "size" `count`:
    /// uneven, zero for some ranks, all zero for `count` 0.
    package static func variableCount(rank: Int, count: Int) -> Int { (count * (rank + 1)) % (count + 2) }

    /// How many elements rank `from` sends rank `to` in a variable all-to-all of "size" `count`.
    package static func pairCount(from: Int, to: Int, count: Int) -> Int { (count + from * 5 + to * 3) % (count + 1) }

    static func value<T: CheckableElement>(_: T.Type, _ a: Int, _ b: Int, _ i: Int) -> T {
        T(pattern: (a &* 13 &+ b &* 5 &+ i &* 7) % 23 - 11)
    }

    /// The four variable-size collectives, array forms (which exchange the sizes) and buffer
    /// forms (which take them), with the root moving with `count`.
    package static func variableCollectives<T: CheckableElement>(_: T.Type, count: Int, communicator c: Communicator) throws -> Int {
        let n = c.worldSize, rank = c.rank, root = count % n
        let counts = (0..<n).map { variableCount(rank: $0, count: count) }
        func contribution(_ r: Int) -> [T] { (0..<counts[r]).map { value(T.self, r, 0, $0) } }
        let everyone = (0..<n).map(contribution)
        var wrong = 0

        // All-gather.
        if try c.allGatherVariable(contribution(rank)) != everyone { wrong += 1 }
        var flat = [T](repeating: .zero, count: counts.reduce(0, +))
        try contribution(rank).withUnsafeBufferPointer { send in
            try flat.withUnsafeMutableBufferPointer { try c.allGatherVariable(send, into: $0, counts: counts) }
        }
        if flat != Array(everyone.joined()) { wrong += 1 }

        // Gather.
        let gathered = try c.gatherVariable(contribution(rank), root: root)
        if gathered != (rank == root ? everyone : []) { wrong += 1 }

        // Scatter: the root's array for rank j is contribution(j).
        let mine = try c.scatterVariable(rank == root ? everyone : [], root: root)
        if mine != contribution(rank) { wrong += 1 }
        var received = [T](repeating: .zero, count: counts[rank])
        let rootFlat = rank == root ? Array(everyone.joined()) : []
        try rootFlat.withUnsafeBufferPointer { send in
            try received.withUnsafeMutableBufferPointer { try c.scatterVariable(send, counts: rank == root ? counts : [], into: $0, root: root) }
        }
        if received != contribution(rank) { wrong += 1 }

        // All-to-all.
        func pair(_ from: Int, _ to: Int) -> [T] { (0..<pairCount(from: from, to: to, count: count)).map { value(T.self, from, to + 1, $0) } }
        let outgoing = (0..<n).map { pair(rank, $0) }
        let incoming = (0..<n).map { pair($0, rank) }
        if try c.allToAllVariable(outgoing) != incoming { wrong += 1 }
        var into = [T](repeating: .zero, count: incoming.map(\.count).reduce(0, +))
        try Array(outgoing.joined()).withUnsafeBufferPointer { send in
            try into.withUnsafeMutableBufferPointer {
                try c.allToAllVariable(send, sendCounts: outgoing.map(\.count), into: $0, receiveCounts: incoming.map(\.count))
            }
        }
        if into != Array(incoming.joined()) { wrong += 1 }
        return wrong
    }

    /// All-reduce with a closure that is not commutative: "keep the first value that differs
    /// from the pattern's 0", which depends on the ranks' order for every type. The result must
    /// equal the fold over ranks in order, on every rank.
    package static func firstDifferent<T: CheckableElement>(_: T.Type, count: Int, communicator c: Communicator) throws -> Int {
        let marker = T(pattern: 0)
        func combine(_ a: inout T, _ b: T) { if a == marker { a = b } }
        return try customCheck(count: count, communicator: c, combine: combine) { r, i in
            // Many markers, so that later ranks decide some elements.
            (i + r) % 3 == 0 ? value(T.self, r, 1, i) : marker
        }
    }

    /// All-reduce with arithmetic closures that are neither commutative nor (for floating point)
    /// associative: `a = 3a + b` wrapping for `Int32`, `a = a/2 − b` for `Double`, in `Float`
    /// rounded to bfloat16 for ``BFloat16``, both element-wise and buffer-wise.
    package static func arithmeticClosures(count: Int, communicator c: Communicator) throws -> Int {
        var wrong = 0
        wrong += try customCheck(count: count, communicator: c, combine: { (a: inout Int32, b: Int32) in a = a &* 3 &+ b }) { r, i in
            value(Int32.self, r, 2, i)
        }
        wrong += try customCheck(count: count, communicator: c, combine: { (a: inout Double, b: Double) in a = a / 2 - b }) { r, i in
            value(Double.self, r, 3, i) / 3
        }
        wrong += try customCheck(count: count, communicator: c, buffers: true, combine: { (a: inout BFloat16, b: BFloat16) in
            a = BFloat16(Float(a) * 0.75 - Float(b))
        }) { r, i in value(BFloat16.self, r, 4, i) }
        return wrong
    }

    static func customCheck<T: CheckableElement>(
        count: Int, communicator c: Communicator, buffers: Bool = false,
        combine: @escaping (inout T, T) -> Void, input: (Int, Int) -> T
    ) throws -> Int {
        let n = c.worldSize
        var reference = (0..<count).map { input(0, $0) }
        for r in 1..<max(n, 1) {
            for i in 0..<count { combine(&reference[i], input(r, i)) }
        }
        var values = (0..<count).map { input(c.rank, $0) }
        if buffers {
            try c.allReduce(&values, combiningBuffers: { acc, next in
                for i in 0..<acc.count { combine(&acc[i], next[i]) }
            })
        } else {
            try c.allReduce(&values, combining: combine)
        }
        let bitsEqual = values.withUnsafeBytes { a in reference.withUnsafeBytes { b in a.elementsEqual(b) } }
        return bitsEqual ? 0 : 1
    }

    /// A value with the shapes configurations have: text (with quotes and control characters),
    /// numbers, arrays, optionals, nesting.
    package struct Sample: Codable, Sendable, Equatable {
        package var rank: Int
        package var name: String
        package var shard: [Int]
        package var rate: Double
        package var parent: Int?
        package var tags: [String: String]

        package init(rank: Int, size: Int) {
            self.rank = rank
            name = "rank \"\(rank)\"\t\u{1}✓"
            shard = Array(0..<(Swift.min(size, 5000) * (rank + 1)) % (Swift.min(size, 5000) + 3))
            rate = 1.0 / Double(rank + 3)
            parent = rank == 0 ? nil : (rank - 1) / 2
            tags = ["host": "h\(rank % 2)", "empty": ""]
        }
    }

    /// Broadcast, all-gather, gather and scatter of ``Sample`` values.
    package static func objects(size: Int, communicator c: Communicator) throws -> Int {
        let n = c.worldSize, rank = c.rank, root = size % n
        let everyone = (0..<n).map { Sample(rank: $0, size: size) }
        var wrong = 0
        if try c.broadcast(object: Sample(rank: rank, size: size), root: root) != everyone[root] { wrong += 1 }
        if try c.allGather(object: everyone[rank]) != everyone { wrong += 1 }
        if try c.gather(object: everyone[rank], root: root) != (rank == root ? everyone : []) { wrong += 1 }
        if try c.scatter(objects: rank == root ? everyone : [], root: root) != everyone[rank] { wrong += 1 }
        return wrong
    }
}
