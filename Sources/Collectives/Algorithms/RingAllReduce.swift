import CollectivesSystem
import CollectivesTransport

/// Ring all-reduce: reduce-scatter then all-gather around the ring of ranks, pipelined in
/// segments.
///
/// Each rank's buffer is cut into *n* chunks and each chunk into segments of at most
/// `segmentBytes`. The 2(*n*−1) steps of ``RingTopology`` become one stream of segments to the
/// right neighbour and one from the left: a segment received in the reduce-scatter is combined
/// into the buffer and immediately sent on, so sending, receiving and reducing overlap instead of
/// waiting for whole steps. Up to `window` receives are posted ahead; reduce-scatter segments
/// land in scratch memory, all-gather segments straight in the caller's buffer.
///
/// Each rank sends and receives 2(*n*−1)/*n* of the buffer, the minimum for an all-reduce.
enum RingAllReduce {
    struct Parameters {
        var segmentBytes: Int
        var window: Int
    }

    static func run(
        buffer: UnsafeMutableRawPointer?,
        count: Int,
        elementSize: Int,
        kernel: ReductionKernel,
        transport: any Transport,
        tag: UInt64,
        deadline: Deadline,
        workspace: Workspace,
        parameters: Parameters
    ) throws(TransportError) {
        let n = transport.worldSize
        guard n > 1, count > 0, let base = buffer else { return }
        let topology = RingTopology(rank: transport.rank, worldSize: n)
        let segmentElements = Swift.max(1, parameters.segmentBytes / elementSize)
        let window = Swift.max(1, parameters.window)
        let slotBytes = segmentElements * elementSize
        let scratch = workspace.scratch(atLeast: window * slotBytes)

        var sendCursor = SegmentCursor(topology: topology, count: count, segmentElements: segmentElements, sending: true)
        var postCursor = SegmentCursor(topology: topology, count: count, segmentElements: segmentElements, sending: false)
        var doneCursor = postCursor
        let totalSends = sendCursor.totalSegments
        let totalReceives = postCursor.totalSegments
        // Sends of the first step are ready at once; send k after that forwards receive k − ownSegments.
        let ownSegments = RingTopology.segmentCount(
            chunkCount: RingTopology.chunkRange(topology.sendChunk(step: 0), count: count, worldSize: n).count,
            segmentElements: segmentElements)
        let lastReduceStep = n - 2

        workspace.sends.removeAll(keepingCapacity: true)
        workspace.receives.removeAll(keepingCapacity: true)
        for _ in 0..<window { workspace.receives.append(TransportRequest(rawValue: 0)) }

        var sendsPosted = 0, receivesPosted = 0, receivesDone = 0
        while receivesDone < totalReceives {
            while sendsPosted < totalSends, sendsPosted < ownSegments || sendsPosted - ownSegments < receivesDone {
                let range = sendCursor.elements
                let request = try transport.postSend(
                    UnsafeRawBufferPointer(start: base + range.lowerBound * elementSize, count: range.count * elementSize),
                    to: topology.right, tag: tag)
                workspace.sends.append(request)
                sendsPosted += 1
                sendCursor.advance()
            }
            while receivesPosted < totalReceives, receivesPosted - receivesDone < window {
                let range = postCursor.elements
                let destination = topology.isReduceStep(postCursor.step)
                    ? scratch + (receivesPosted % window) * slotBytes
                    : base + range.lowerBound * elementSize
                workspace.receives[receivesPosted % window] = try transport.postReceive(
                    into: UnsafeMutableRawBufferPointer(start: destination, count: range.count * elementSize),
                    from: topology.left, tag: tag)
                receivesPosted += 1
                postCursor.advance()
            }
            try transport.wait(workspace.receives[receivesDone % window], deadline: deadline)
            if topology.isReduceStep(doneCursor.step) {
                let range = doneCursor.elements
                let target = base + range.lowerBound * elementSize
                kernel.combine(target, scratch + (receivesDone % window) * slotBytes, range.count)
                if doneCursor.step == lastReduceStep, let finish = kernel.finish {
                    finish(target, range.count, n)
                }
            }
            receivesDone += 1
            doneCursor.advance()
        }
        while sendsPosted < totalSends {
            let range = sendCursor.elements
            workspace.sends.append(try transport.postSend(
                UnsafeRawBufferPointer(start: base + range.lowerBound * elementSize, count: range.count * elementSize),
                to: topology.right, tag: tag))
            sendsPosted += 1
            sendCursor.advance()
        }
        for request in workspace.sends {
            try transport.wait(request, deadline: deadline)
        }
    }
}

/// Walks the segments a rank sends (or receives) in ring order: step by step, segment by
/// segment, skipping empty chunks.
struct SegmentCursor {
    let topology: RingTopology
    let count: Int
    let segmentElements: Int
    let sending: Bool
    private(set) var step = 0
    private var segment = 0
    private var chunk: Range<Int> = 0..<0

    init(topology: RingTopology, count: Int, segmentElements: Int, sending: Bool) {
        self.topology = topology
        self.count = count
        self.segmentElements = segmentElements
        self.sending = sending
        chunk = chunkRange(step: 0)
        skipEmpty()
    }

    private func chunkRange(step: Int) -> Range<Int> {
        guard step < topology.stepCount else { return 0..<0 }
        let chunk = sending ? topology.sendChunk(step: step) : topology.receiveChunk(step: step)
        return RingTopology.chunkRange(chunk, count: count, worldSize: topology.worldSize)
    }

    private mutating func skipEmpty() {
        while step < topology.stepCount, chunk.isEmpty {
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
        (0..<topology.stepCount).reduce(0) { total, step in
            total + RingTopology.segmentCount(chunkCount: chunkRange(step: step).count, segmentElements: segmentElements)
        }
    }
}
