import CollectivesSystem
import CollectivesTransport

extension Communicator {
    /// The cost model of the automatic choice: the configured one, or one measured now.
    ///
    /// Measuring is a collective: it happens inside the first all-reduce that needs a choice,
    /// which every rank reaches at the same point of its sequence of calls. Each rank times
    /// small and large exchanges with its ring neighbours and its own reduction kernel; the ranks
    /// then agree on the slowest values, so that every rank makes the same choices.
    func currentCostModel() throws(CollectivesError) -> CostModel {
        if let costModel { return costModel }
        let started = Deadline.now
        let sequence = nextSequence()
        let measured: CostModel
        do {
            measured = try CostProbe.measure(exchange: exchange(CallDescriptor(.probe, sequence: sequence)),
                                             local: layout.hierarchy(of: rank)?.local, board: board)
        } catch {
            throw failure(error, "measuring the cost model (#\(sequence))")
        }
        costModel = measured
        let elapsed = MonotonicClock.seconds(since: started.uptimeNanoseconds)
        logger.debug("rank \(rank): cost model measured in \(Int(elapsed * 1000)) ms: \(measured)")
        return measured
    }
}

/// The short measurements behind a ``CostModel``.
enum CostProbe {
    static let smallRounds = 12
    /// Batches of ``batch`` calls timed per small all-reduce candidate.
    static let smallBatches = 5
    static let largeBytes = 1 << 20
    static let largeRounds = 3
    /// The reduction is timed on buffers larger than the caches, as large all-reduces see them.
    static let reduceBytes = 8 << 20

    /// `local`: the ranks of this rank's host, where ranks span hosts with several on each (the
    /// same on every rank): β is then measured inside the host too.
    /// `board`: the transport's board, where there is one: the one-shot all-reduce is then timed
    /// on it too.
    static func measure(exchange: Exchange, local: [Int]? = nil, board: (any MessageBoard)? = nil) throws(TransportError) -> CostModel {
        let n = exchange.worldSize
        let right = (exchange.rank + 1) % n, left = (exchange.rank + n - 1) % n
        let memory = exchange.workspace.staging(atLeast: 2 * reduceBytes)
        memory.initializeMemory(as: UInt8.self, repeating: 1, count: 2 * largeBytes)

        // First touch the transport's buffers (shared-memory rings, socket buffers) and our own
        // memory, untimed: page faults would otherwise count as latency and bandwidth.
        for _ in 0..<2 {
            try exchange.exchange(send: memory, to: right, receive: memory + largeBytes, from: left, bytes: largeBytes)
        }
        for _ in 0..<4 {
            try exchange.exchange(send: memory, to: right, receive: memory + 8, from: left, bytes: 8)
        }

        // α: a ring shift of 8 bytes is one step of any algorithm. The median of a dozen.
        let alpha = try median(of: smallRounds) { () throws(TransportError) in
            try exchange.exchange(send: memory, to: right, receive: memory + 8, from: left, bytes: 8)
        }
        // β: a ring shift of 1 MiB, best of three, less one latency.
        let beta = try shiftSecondsPerByte(exchange, memory: memory, to: right, from: left, alpha: alpha)
        let gamma = reduceSecondsPerByte(memory: memory)
        // The ring's own step: a ring all-reduce of one element per rank, median of seven, over
        // its 2(n − 1) steps.
        let tiny = memory.bindMemory(to: Float.self, capacity: n)
        let kernel = ReductionKernel(checked: .float32, operation: .sum)
        let ringStep = try median(of: 7, preparing: { tiny.initialize(repeating: 1, count: n) }) { () throws(TransportError) in
            try Ring.run(.allReduce, buffer: UnsafeMutableRawPointer(tiny), count: n, elementSize: 4, kernel: kernel, exchange: exchange)
        } / Double(2 * (n - 1))

        // β inside this host: the same 1 MiB shift among its ranks only (every host at once).
        var localBeta = 0.0
        if let local, let inside = TransportSubset(base: exchange.transport, members: local) {
            let l = local.count, me = inside.rank
            memory.initializeMemory(as: UInt8.self, repeating: 1, count: 2 * largeBytes)
            localBeta = try shiftSecondsPerByte(exchange.over(inside), memory: memory, to: (me + 1) % l, from: (me + l - 1) % l,
                                                alpha: alpha, warmUp: true)
        }

        // Recursive doubling and the tree, whole, on 8 bytes, Rabenseifner's on one float per
        // rank: the median of five batches of four calls each.
        let smallAllReduces = try measureSmallAllReduces(exchange: exchange, memory: memory)
        let oneShot = try board.map { (board) throws(TransportError) in try measureOneShot(on: board, exchange: exchange, memory: memory) }

        // Agree: every rank takes the largest of each, by recursive doubling.
        let values = memory.bindMemory(to: Double.self, capacity: 10)
        values[0] = alpha
        values[1] = beta
        values[2] = gamma
        values[3] = ringStep
        values[4] = localBeta
        values[5] = oneShot?.small ?? 0
        values[6] = oneShot?.large ?? 0
        values[7] = smallAllReduces.recursiveDoublingSeconds
        values[8] = smallAllReduces.treeSeconds
        values[9] = smallAllReduces.rabenseifnerSeconds
        try RecursiveDoubling.run(buffer: UnsafeMutableRawPointer(values), count: 10, elementSize: 8,
                                  kernel: ReductionKernel(checked: .float64, operation: .max), exchange: exchange)
        let oneShotCost = board.map { board in
            CostModel.OneShotCost(fixedSeconds: values[5], secondsPerByte: Swift.max(0, values[6] - values[5]) / Double(board.boardCapacity - 8))
        }
        return CostModel(latencySeconds: values[0], secondsPerByte: values[1], reduceSecondsPerByte: values[2],
                         ringStepSeconds: values[3], localSecondsPerByte: local == nil ? nil : values[4], oneShot: oneShotCost,
                         smallMessage: CostModel.SmallMessageCost(recursiveDoublingSeconds: values[7], treeSeconds: values[8],
                                                                  rabenseifnerSeconds: values[9]))
    }

    /// The median time of `rounds` runs of `body`, each after `preparing` (untimed).
    private static func median(of rounds: Int, preparing: () -> Void = {},
                               _ body: () throws(TransportError) -> Void) throws(TransportError) -> Double {
        var times: [Double] = []
        for _ in 0..<rounds {
            preparing()
            let start = MonotonicClock.nanoseconds
            try body()
            times.append(MonotonicClock.seconds(since: start))
        }
        times.sort()
        return times[times.count / 2]
    }

    /// β of a 1 MiB ring shift over `exchange`: the best of three, less one latency (`alpha`),
    /// per byte. With `warmUp`, one untimed shift first.
    private static func shiftSecondsPerByte(_ exchange: Exchange, memory: UnsafeMutableRawPointer, to right: Int, from left: Int,
                                            alpha: Double, warmUp: Bool = false) throws(TransportError) -> Double {
        if warmUp { try exchange.exchange(send: memory, to: right, receive: memory + largeBytes, from: left, bytes: largeBytes) }
        var best = Double.infinity
        for _ in 0..<largeRounds {
            let start = MonotonicClock.nanoseconds
            try exchange.exchange(send: memory, to: right, receive: memory + largeBytes, from: left, bytes: largeBytes)
            best = Swift.min(best, MonotonicClock.seconds(since: start))
        }
        return Swift.max(best - alpha, best / 2) / Double(largeBytes)
    }

    /// γ: this rank's float32 sum kernel over 8 MiB, beyond the caches, best of three.
    private static func reduceSecondsPerByte(memory: UnsafeMutableRawPointer) -> Double {
        let kernel = ReductionKernel(checked: .float32, operation: .sum)
        memory.initializeMemory(as: Float.self, repeating: 1, count: 2 * reduceBytes / 4)
        var best = Double.infinity
        for _ in 0..<3 {
            let start = MonotonicClock.nanoseconds
            kernel.combine(memory, memory + reduceBytes, reduceBytes / 4)
            best = Swift.min(best, MonotonicClock.seconds(since: start))
        }
        return Swift.max(best, 1e-6) / Double(reduceBytes)
    }

    /// The median times of 8-byte float32 sums by recursive doubling and by the tree, and of one
    /// float32 per rank by Rabenseifner's.
    private static func measureSmallAllReduces(exchange: Exchange, memory: UnsafeMutableRawPointer) throws(TransportError) -> CostModel.SmallMessageCost {
        let kernel = ReductionKernel(checked: .float32, operation: .sum)
        let n = exchange.worldSize
        func median(_ algorithm: (UnsafeMutableRawPointer) throws(TransportError) -> Void) throws(TransportError) -> Double {
            try medianSeconds(rounds: smallBatches, count: n, memory: memory, algorithm)
        }
        let doubling = try median { (buffer) throws(TransportError) in
            try RecursiveDoubling.run(buffer: buffer, count: 2, elementSize: 4, kernel: kernel, exchange: exchange)
        }
        let tree = try median { (buffer) throws(TransportError) in
            try TreeAllReduce.run(buffer: buffer, count: 2, elementSize: 4, kernel: kernel, exchange: exchange)
        }
        let halving = try median { (buffer) throws(TransportError) in
            try Rabenseifner.run(buffer: buffer, count: n, elementSize: 4, kernel: kernel, exchange: exchange)
        }
        return CostModel.SmallMessageCost(recursiveDoublingSeconds: doubling, treeSeconds: tree, rabenseifnerSeconds: halving)
    }

    /// The time of one run of `body` on `count` float32 values at `memory`: the median over
    /// `rounds` batches of ``batch`` runs back to back, each batch timed whole, after two
    /// untimed runs (which touch the pages it uses). A run timed alone also counts the ranks'
    /// skew as they enter it, which back-to-back calls do not pay; it is largest for the
    /// algorithms that wait for every peer at once (one-shot waited out about 10 µs of it at 4
    /// ranks on 2 cores, against 4 µs a call in steady state, and lost to recursive doubling).
    private static func medianSeconds(rounds: Int, count: Int, memory: UnsafeMutableRawPointer,
                                      _ body: (UnsafeMutableRawPointer) throws(TransportError) -> Void) throws(TransportError) -> Double {
        for _ in 0..<2 {
            memory.initializeMemory(as: Float.self, repeating: 1, count: count)
            try body(memory)
        }
        var times: [Double] = []
        for _ in 0..<rounds {
            // Ones, so that a batch of sums over n ranks stays below n^batch.
            memory.initializeMemory(as: Float.self, repeating: 1, count: count)
            let start = MonotonicClock.nanoseconds
            for _ in 0..<batch { try body(memory) }
            times.append(MonotonicClock.seconds(since: start) / Double(batch))
        }
        times.sort()
        return times[times.count / 2]
    }

    /// Calls timed together in one batch of ``medianSeconds(rounds:count:memory:_:)``.
    static let batch = 4

    /// The one-shot all-reduce of float32 sums on `board`: the median time of 8 bytes, and of
    /// a full post.
    private static func measureOneShot(on board: any MessageBoard, exchange: Exchange,
                                       memory: UnsafeMutableRawPointer) throws(TransportError) -> (small: Double, large: Double) {
        let kernel = ReductionKernel(checked: .float32, operation: .sum)
        let capacityFloats = board.boardCapacity / 4
        func median(count: Int, rounds: Int) throws(TransportError) -> Double {
            try medianSeconds(rounds: rounds, count: count, memory: memory) { (buffer) throws(TransportError) in
                try OneShot.run(buffer: buffer, source: nil, count: count, elementSize: 4, kernel: kernel, board: board, exchange: exchange)
            }
        }
        return (try median(count: 2, rounds: smallBatches), try median(count: capacityFloats, rounds: 3))
    }
}
