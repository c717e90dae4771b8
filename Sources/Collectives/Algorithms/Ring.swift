import CollectivesSystem
import CollectivesTransport

/// Ring algorithms: reduce-scatter, all-gather, and all-reduce as the one followed by the other,
/// pipelined in segments.
///
/// The buffer is cut into *n* chunks (``RingTopology/chunkRange(_:count:worldSize:)``) and each
/// chunk into segments of at most ``Exchange/segmentBytes``. The steps of ``RingTopology``
/// become one stream of segments to the right neighbour and one from the left: a segment
/// received in the reduce-scatter is combined into the buffer and immediately sent on, so
/// sending, receiving and reducing overlap instead of waiting for whole steps. Up to
/// ``Exchange/window`` receives are posted ahead; reduce-scatter segments land in scratch
/// memory, all-gather segments straight in the caller's buffer.
///
/// All-reduce: each rank sends and receives 2(*n*−1)/*n* of the buffer, the minimum for an
/// all-reduce. Reduce-scatter and all-gather: (*n*−1)/*n* each. After the reduce-scatter rank
/// *r* holds the reduced chunk *r*; the all-gather starts from chunk *r* on rank *r*.
enum Ring {
    /// Which steps of the ring to run.
    enum Phases {
        case allReduce, reduceScatter, allGather

        func steps(worldSize n: Int) -> Range<Int> {
            switch self {
            case .allReduce: return 0..<(2 * (n - 1))
            case .reduceScatter: return 0..<(n - 1)
            case .allGather: return (n - 1)..<(2 * (n - 1))
            }
        }
    }

    /// Runs `phases` over `count` elements at `buffer`, which every rank holds in full. For the
    /// reduce-scatter and the all-gather `count` is *n* × the block size.
    ///
    /// With a `source` (an all-reduce or a reduce-scatter out of place), this rank's values are
    /// read from it instead of `buffer`: the first step's segments are sent from it, and each
    /// received segment is combined with the source's into `buffer` in one pass
    /// (``ReductionKernel/combine(into:_:_:_:elementSize:)``), so nothing is copied up front. An all-reduce writes every
    /// element of `buffer` (the chunk sent first comes back in the all-gather); a reduce-scatter
    /// writes the chunks it combines, its own block among them.
    static func run(
        _ phases: Phases, buffer: UnsafeMutableRawPointer?, source: UnsafeRawPointer? = nil, count: Int, elementSize: Int,
        kernel: ReductionKernel?, exchange: Exchange
    ) throws(TransportError) {
        let n = exchange.worldSize
        guard n > 1, count > 0, let base = buffer else { return }
        let topology = RingTopology(rank: exchange.rank, worldSize: n)
        let steps = phases.steps(worldSize: n)
        let segmentElements = exchange.segmentElements(elementSize)
        let window = Swift.max(1, exchange.window)
        let slotBytes = segmentElements * elementSize
        let workspace = exchange.workspace
        let hasReduceSteps = topology.isReduceStep(steps.lowerBound)
        let scratch = hasReduceSteps ? workspace.scratch(atLeast: window * slotBytes) : base

        var sendCursor = SegmentCursor(topology: topology, steps: steps, count: count, segmentElements: segmentElements, sending: true)
        var postCursor = SegmentCursor(topology: topology, steps: steps, count: count, segmentElements: segmentElements, sending: false)
        var doneCursor = postCursor
        let totalSends = sendCursor.totalSegments
        let totalReceives = postCursor.totalSegments
        // Sends of the first step are ready at once; send k after that forwards receive k − ownSegments.
        let ownSegments = RingTopology.segmentCount(
            chunkCount: sendCursor.chunkRange(step: steps.lowerBound).count, segmentElements: segmentElements)
        let lastReduceStep = n - 2

        workspace.sends.removeAll(keepingCapacity: true)
        workspace.receives.removeAll(keepingCapacity: true)
        for _ in 0..<window { workspace.receives.append(TransportRequest(rawValue: 0)) }

        precondition(source == nil || phases != .allGather, "the all-gather reads no separate source")
        let firstStepBase = source ?? UnsafeRawPointer(base)
        func postSends(upTo limit: Int, _ sendsPosted: inout Int) throws(TransportError) {
            while sendsPosted < totalSends, sendsPosted < limit {
                let range = sendCursor.elements
                let from = sendsPosted < ownSegments ? firstStepBase : UnsafeRawPointer(base)
                workspace.sends.append(try exchange.postSend(
                    from + range.lowerBound * elementSize, bytes: range.count * elementSize, to: topology.right))
                sendsPosted += 1
                sendCursor.advance()
            }
        }

        var sendsPosted = 0, receivesPosted = 0, receivesDone = 0
        while receivesDone < totalReceives {
            try postSends(upTo: Swift.max(ownSegments, ownSegments + receivesDone), &sendsPosted)
            while receivesPosted < totalReceives, receivesPosted - receivesDone < window {
                let range = postCursor.elements
                let destination = topology.isReduceStep(postCursor.step)
                    ? scratch + (receivesPosted % window) * slotBytes
                    : base + range.lowerBound * elementSize
                workspace.receives[receivesPosted % window] = try exchange.postReceive(
                    destination, bytes: range.count * elementSize, from: topology.left)
                receivesPosted += 1
                postCursor.advance()
            }
            try exchange.wait(workspace.receives[receivesDone % window])
            if topology.isReduceStep(doneCursor.step), let kernel {
                let range = doneCursor.elements
                let target = base + range.lowerBound * elementSize
                let received = UnsafeRawPointer(scratch + (receivesDone % window) * slotBytes)
                if let source {
                    // The chunk's first combine: the input and what came, into the output, in one pass.
                    kernel.combine(into: target, source + range.lowerBound * elementSize, received, range.count, elementSize: elementSize)
                } else {
                    kernel.combine(target, received, range.count)
                }
                if doneCursor.step == lastReduceStep, let finish = kernel.finish {
                    finish(target, range.count, n)
                }
            }
            receivesDone += 1
            doneCursor.advance()
        }
        try postSends(upTo: totalSends, &sendsPosted)
        try exchange.waitForSends()
    }
}

/// Walks the segments a rank sends (or receives) in ring order: step by step, segment by
/// segment, skipping empty chunks.
///
/// Chunk *c* of ``RingTopology`` is stored at position (*c* − 1) mod *n* of the buffer, so that
/// the chunk a rank reduces is the one at its own position: what a reduce-scatter's caller
/// expects, and where an all-gather's caller puts its block.
struct SegmentCursor {
    let topology: RingTopology
    let steps: Range<Int>
    let count: Int
    let segmentElements: Int
    let sending: Bool
    private(set) var step: Int
    private var segment = 0
    private var chunk: Range<Int> = 0..<0

    init(topology: RingTopology, steps: Range<Int>, count: Int, segmentElements: Int, sending: Bool) {
        self.topology = topology
        self.steps = steps
        self.count = count
        self.segmentElements = segmentElements
        self.sending = sending
        step = steps.lowerBound
        chunk = chunkRange(step: step)
        skipEmpty()
    }

    /// The elements of the chunk this cursor sends or receives at `step`.
    func chunkRange(step: Int) -> Range<Int> {
        guard steps.contains(step) else { return 0..<0 }
        let n = topology.worldSize
        let chunk = sending ? topology.sendChunk(step: step) : topology.receiveChunk(step: step)
        return RingTopology.chunkRange((chunk + n - 1) % n, count: count, worldSize: n)
    }

    private mutating func skipEmpty() {
        while steps.contains(step), chunk.isEmpty {
            step += 1
            chunk = chunkRange(step: step)
        }
    }

    /// The elements of the current segment.
    var elements: Range<Int> {
        let start = chunk.lowerBound + segment * segmentElements
        return start..<Swift.min(start + segmentElements, chunk.upperBound)
    }

    mutating func advance() {
        segment += 1
        if segment * segmentElements >= chunk.count {
            segment = 0
            step += 1
            chunk = chunkRange(step: step)
            skipEmpty()
        }
    }

    /// Segments over all steps.
    var totalSegments: Int {
        steps.reduce(0) { total, step in
            total + RingTopology.segmentCount(chunkCount: chunkRange(step: step).count, segmentElements: segmentElements)
        }
    }
}
