import Collectives

/// The inputs and the expected output of one collective call on deterministic data, for checking
/// a result held in any buffer (the benchmark's, the tests').
///
/// `blockCount` is the per-rank element count as ``CollectiveCheck`` uses it: the whole buffer
/// for all-reduce, broadcast and reduce; one block for the others.
package struct CollectiveReference: Sendable {
    package let collective: CollectiveName
    package let worldSize: Int
    package let rank: Int
    package let blockCount: Int
    package let op: ReduceOperation
    package let root: Int

    package init(_ collective: CollectiveName, worldSize: Int, rank: Int, blockCount: Int, op: ReduceOperation, root: Int) {
        self.collective = collective
        self.worldSize = worldSize
        self.rank = rank
        self.blockCount = blockCount
        self.op = op
        self.root = root
    }

    /// The pattern the inputs follow: the operation's for collectives that reduce, `sum`'s
    /// otherwise.
    var inputOp: ReduceOperation { collective.reduces ? op : .sum }

    /// Elements in this rank's send buffer.
    package var inputCount: Int {
        switch collective {
        case .reduceScatter, .allToAll: return blockCount * worldSize
        case .scatter: return rank == root ? blockCount * worldSize : 0
        default: return blockCount
        }
    }

    /// Elements in this rank's result (0 where it gets none).
    package var outputCount: Int {
        switch collective {
        case .allGather, .allToAll: return blockCount * worldSize
        case .gather: return rank == root ? blockCount * worldSize : 0
        case .reduce: return rank == root ? blockCount : 0
        case .barrier: return 0
        default: return blockCount
        }
    }

    /// The value rank `rank` holds at `index` of its send buffer.
    package func input(rank: Int, index: Int) -> Int {
        ReferencePattern.input(rank: rank, index: index, op: inputOp)
    }

    /// Fills this rank's send buffer.
    package func fillInput<T: CheckableElement>(_ buffer: UnsafeMutableBufferPointer<T>) {
        for i in buffer.indices { buffer[i] = T(pattern: input(rank: rank, index: i)) }
    }

    /// The value expected at `index` of this rank's result, as `dataType` holds it.
    package func expected(index: Int, dataType: DataType) -> Double {
        let arithmetic = ReferencePattern.Arithmetic(dataType)
        func moved(_ value: Int) -> Double { arithmetic.result(arithmetic.held(value)) }
        let block = Swift.max(blockCount, 1)
        func reduced(_ i: Int) -> Double {
            ReferencePattern.expected(index: i, worldSize: worldSize, op: op, dataType: dataType)
        }
        switch collective {
        case .allReduce, .reduce, .split: return reduced(index)
        case .broadcast: return moved(input(rank: root, index: index))
        case .allGather, .gather: return moved(input(rank: index / block, index: index % block))
        case .reduceScatter: return reduced(rank * blockCount + index)
        case .allToAll: return moved(input(rank: index / block, index: rank * blockCount + index % block))
        case .scatter: return moved(input(rank: root, index: rank * blockCount + index))
        case .sendReceive: return moved(input(rank: (rank + worldSize - 1) % worldSize, index: index))
        case .barrier: return 0
        }
    }

    /// Counts the elements of `output` (this rank's result) that differ from the reference, by
    /// more than one rounding of the type for floating-point averages.
    package func countWrong<T: CheckableElement>(_ output: UnsafeBufferPointer<T>) -> Int {
        let tolerance = ReferencePattern.tolerance(for: T.dataType)
        var wrong = 0
        for i in output.indices {
            let want = expected(index: i, dataType: T.dataType)
            if ReferencePattern.isWrong(output[i].checkedValue, expected: want, tolerance: tolerance) { wrong += 1 }
        }
        return wrong
    }
}
