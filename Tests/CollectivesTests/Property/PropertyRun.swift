import Collectives
import CollectivesTestSupport

/// Runs one ``PropertyCase`` on its communicators (a thread per rank) and checks every rank's
/// result against the sequential reference of ``PropertyValue``; returns what was wrong.
enum PropertyRun {
    static func failures(_ propertyCase: PropertyCase, on communicators: [Communicator]) -> [String] {
        func open<T: PropertyValue>(_: T.Type) -> [String] { failures(T.self, propertyCase, communicators) }
        return open(propertyType(of: propertyCase.dataType))
    }

    /// Rank `rank`'s input: its values for the case, as many as the collective sends.
    static func input<T: PropertyValue>(_: T.Type, _ c: PropertyCase, rank: Int) -> [T] {
        var generator = SeededRandom(seed: c.valueSeed &+ UInt64(rank) &* 0x2545_F491_4F6C_DD1D)
        let n = c.worldSize
        let length: Int
        switch c.collective {
        case .allReduce, .reduce, .broadcast, .allGather, .gather: length = c.count
        case .reduceScatter, .allToAll: length = c.count * n
        case .scatter: length = rank == c.root ? c.count * n : 0
        }
        return (0..<length).map { _ in T.random(&generator, op: c.op) }
    }

    static func failures<T: PropertyValue>(_: T.Type, _ c: PropertyCase, _ communicators: [Communicator]) -> [String] {
        let n = c.worldSize
        let inputs = (0..<n).map { input(T.self, c, rank: $0) }
        let outcomes = runRanks(n) { rank -> [T] in
            try call(c, communicators[rank], input: inputs[rank])
        }
        var problems: [String] = []
        var outputs: [[T]] = []
        for (rank, outcome) in outcomes.enumerated() {
            switch outcome {
            case .success(let output): outputs.append(output)
            case .failure(let error): problems.append("rank \(rank) threw: \(error)")
            }
        }
        guard problems.isEmpty else { return problems }
        for rank in 0..<n {
            let expected = reference(T.self, c, inputs: inputs, rank: rank)
            problems += compare(outputs[rank], expected, rank: rank)
        }
        // All-reduce gives every rank the same bits, whatever the algorithm.
        if c.collective == .allReduce, let first = outputs.first {
            for rank in 1..<n where outputs[rank].map(\.bits) != first.map(\.bits) {
                problems.append("rank \(rank)'s result differs in its bits from rank 0's")
            }
        }
        return problems
    }

    /// The collective on one rank, in place (through the array or in-place form) or out of place
    /// (through buffers); returns what this rank holds afterwards as its result.
    static func call<T: PropertyValue>(_ c: PropertyCase, _ communicator: Communicator, input: [T]) throws -> [T] {
        let n = c.worldSize, rank = communicator.rank, block = c.count
        var values = input
        func outOfPlace(_ outputCount: Int, _ body: (UnsafeBufferPointer<T>, UnsafeMutableBufferPointer<T>) throws -> Void) throws -> [T] {
            var output = [T](repeating: T.filler, count: outputCount)
            try input.withUnsafeBufferPointer { send in try output.withUnsafeMutableBufferPointer { try body(send, $0) } }
            return output
        }
        switch (c.collective, c.inPlace) {
        case (.allReduce, true):
            try communicator.allReduce(&values, op: c.op, algorithm: c.algorithm)
            return values
        case (.allReduce, false):
            return try outOfPlace(block) { try communicator.allReduce($0, into: $1, op: c.op, algorithm: c.algorithm) }
        case (.reduce, true):
            try communicator.reduce(&values, op: c.op, root: c.root)
            return rank == c.root ? values : []
        case (.reduce, false):
            let result = try outOfPlace(rank == c.root ? block : 0) { try communicator.reduce($0, into: $1, op: c.op, root: c.root) }
            return rank == c.root ? result : []
        case (.broadcast, true):
            try communicator.broadcast(&values, root: c.root)
            return values
        case (.broadcast, false):
            return try outOfPlace(block) { try communicator.broadcast($0, into: $1, root: c.root) }
        case (.allGather, true):
            var buffer = [T](repeating: T.filler, count: block * n)
            buffer.replaceSubrange(rank * block..<(rank + 1) * block, with: input)
            try buffer.withUnsafeMutableBufferPointer { try communicator.allGather(inPlace: $0) }
            return buffer
        case (.allGather, false):
            return try outOfPlace(block * n) { try communicator.allGather($0, into: $1) }
        case (.reduceScatter, true):
            try values.withUnsafeMutableBufferPointer { try communicator.reduceScatter(inPlace: $0, op: c.op) }
            return Array(values[rank * block..<(rank + 1) * block])
        case (.reduceScatter, false):
            return try outOfPlace(block) { try communicator.reduceScatter($0, into: $1, op: c.op) }
        case (.allToAll, true):
            try values.withUnsafeMutableBufferPointer { try communicator.allToAll(inPlace: $0) }
            return values
        case (.allToAll, false):
            return try outOfPlace(block * n) { try communicator.allToAll($0, into: $1) }
        case (.gather, true):
            return try communicator.gather(input, root: c.root)
        case (.gather, false):
            return try outOfPlace(rank == c.root ? block * n : 0) { try communicator.gather($0, into: $1, root: c.root) }
        case (.scatter, true):
            return try communicator.scatter(input, count: block, root: c.root)
        case (.scatter, false):
            return try outOfPlace(block) { try communicator.scatter($0, into: $1, root: c.root) }
        }
    }

    /// What rank `rank` must hold, computed sequentially from every rank's input.
    static func reference<T: PropertyValue>(_: T.Type, _ c: PropertyCase, inputs: [[T]], rank: Int) -> [ReferenceValue] {
        let n = c.worldSize, block = c.count
        func reduced(_ index: Int) -> ReferenceValue { T.reference((0..<n).map { inputs[$0][index] }, op: c.op) }
        func moved(_ value: T) -> ReferenceValue { .bits(value.bits) }
        switch c.collective {
        case .allReduce: return (0..<block).map(reduced)
        case .reduce: return rank == c.root ? (0..<block).map(reduced) : []
        case .broadcast: return inputs[c.root].map(moved)
        case .allGather: return (0..<n).flatMap { inputs[$0].map(moved) }
        case .gather: return rank == c.root ? (0..<n).flatMap { inputs[$0].map(moved) } : []
        case .reduceScatter: return (rank * block..<(rank + 1) * block).map(reduced)
        case .allToAll: return (0..<n).flatMap { inputs[$0][rank * block..<(rank + 1) * block].map(moved) }
        case .scatter: return inputs[c.root][rank * block..<(rank + 1) * block].map(moved)
        }
    }

    /// The differences between a rank's result and its reference: lengths, bits, or a value
    /// outside its bound (a NaN or an infinity always is).
    static func compare<T: PropertyValue>(_ output: [T], _ expected: [ReferenceValue], rank: Int) -> [String] {
        guard output.count == expected.count else { return ["rank \(rank): \(output.count) elements, expected \(expected.count)"] }
        var wrong: [String] = []
        for (index, (value, want)) in zip(output, expected).enumerated() {
            switch want {
            case .bits(let bits):
                if value.bits != bits { wrong.append("[\(index)] \(value) (bits \(String(value.bits, radix: 16)) ≠ \(String(bits, radix: 16)))") }
            case .approximately(let reference, let bound):
                let got = (value as? any PropertyFloat)?.double ?? .nan
                if !got.isFinite || !(abs(got - reference) <= bound) { wrong.append("[\(index)] \(got), expected \(reference) ± \(bound)") }
            }
        }
        guard !wrong.isEmpty else { return [] }
        return ["rank \(rank): \(wrong.count) of \(expected.count) wrong, first \(wrong.prefix(3).joined(separator: "; "))"]
    }
}
