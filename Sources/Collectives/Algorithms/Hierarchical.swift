import CollectivesSystem
import CollectivesTransport

/// The hierarchical all-reduce, for ranks on several hosts with the same number on each: a
/// reduce-scatter among the ranks of each host (shared memory), an all-reduce of each rank's
/// block with the ranks at the same place on the other hosts (the network), and an all-gather
/// among the ranks of each host.
///
/// With *H* hosts of *L* ranks, each rank sends 2(*H* − 1)/*H* · *N*/*L* bytes to other hosts
/// and the *L* ranks of a host do so side by side: 2(*H* − 1)/*H* · *N* bytes leave each host,
/// against 2(*HL* − 1)/(*HL*) · *N* through each crossing of a flat ring (1.5× as many for 2 × 2).
///
/// The buffer is cut into pieces that flow through the three phases as a pipeline, so that the
/// network is busy while the host's ranks reduce and copy: piece *p*'s exchange with the other
/// hosts is posted, then piece *p* + 1 is reduced inside the host while it travels (every wait
/// moves every posted transfer). The exchange across hosts is direct: each rank's block is cut
/// into *H* parts, part *j* is reduced by the rank on host *j* from what the others send it,
/// and sent back to all of them. Every rank ends with the same bits: each part is reduced by one
/// rank only and copied to the others.
enum Hierarchical {
    /// Pieces of at least this many bytes (fewer, larger pieces below it).
    static let pieceBytes = 2 << 20
    static let maximumPieces = 16

    static func run(
        buffer: UnsafeMutableRawPointer?, count: Int, elementSize: Int, kernel: ReductionKernel,
        local: [Int], across: [Int], exchange: Exchange
    ) throws(TransportError) {
        guard count > 0, let base = buffer else { return }
        guard let inside = TransportSubset(base: exchange.transport, members: local),
              let between = TransportSubset(base: exchange.transport, members: across) else {
            throw TransportError(.invalidArgument("rank \(exchange.rank) is missing from its hierarchy"),
                                 rank: exchange.rank, peer: nil, operation: "hierarchical all-reduce")
        }
        let plan = HierarchicalPlan(base: base, count: count, elementSize: elementSize, kernel: kernel, inside: inside, between: between,
                                    exchange: exchange)
        var reduceRequests: [[TransportRequest]] = Array(repeating: [], count: 2)
        var gatherRequests: [[TransportRequest]] = Array(repeating: [], count: 2)
        for step in 0..<(plan.pieces + 2) {
            // 1. Piece `step` inside the host, while earlier pieces travel between hosts; then
            //    its parts to the hosts that reduce them, and the others' copies of ours.
            if step < plan.pieces {
                try plan.reduceScatterInside(piece: step)
                reduceRequests[step % 2] = try plan.sendParts(of: step)
            }
            // 2. The piece before: reduce our part, send it to every other host, take theirs.
            if step >= 1 && step - 1 < plan.pieces {
                for request in reduceRequests[(step - 1) % 2] { try between.wait(request, deadline: exchange.deadline) }
                gatherRequests[(step - 1) % 2] = try plan.reduceAndShare(piece: step - 1)
            }
            // 3. The piece before that: complete, then shared with the host's ranks.
            if step >= 2 {
                for request in gatherRequests[(step - 2) % 2] { try between.wait(request, deadline: exchange.deadline) }
                try plan.allGatherInside(piece: step - 2)
            }
        }
    }
}

/// One hierarchical all-reduce's layout: the pieces of the buffer, each rank's block of a piece
/// (reduced inside the host), each block's parts (reduced one per host), and the scratch slots
/// where the other hosts' copies of this rank's part land.
private struct HierarchicalPlan {
    let base: UnsafeMutableRawPointer
    let count: Int
    let elementSize: Int
    let kernel: ReductionKernel
    /// The kernel's combining step without its finish (an average divides once, at the end).
    let summing: ReductionKernel
    let inside: TransportSubset
    let between: TransportSubset
    let localExchange: Exchange
    let tag: MessageTag
    let worldSize: Int
    let pieces: Int
    let partBytes: Int
    let slotBytes: Int
    let scratch: UnsafeMutableRawPointer

    var host: Int { between.rank }
    var hostCount: Int { between.worldSize }

    init(base: UnsafeMutableRawPointer, count: Int, elementSize: Int, kernel: ReductionKernel, inside: TransportSubset,
         between: TransportSubset, exchange: Exchange) {
        (self.base, self.count, self.elementSize, self.kernel) = (base, count, elementSize, kernel)
        summing = ReductionKernel(combine: kernel.combine, finish: nil)
        (self.inside, self.between, tag, worldSize) = (inside, between, exchange.tag, exchange.worldSize)
        localExchange = exchange.over(inside)
        pieces = Swift.max(1, Swift.min(Hierarchical.maximumPieces, count * elementSize / Hierarchical.pieceBytes))
        // A slot per piece in flight.
        let largestPart = (count / pieces + 1) / inside.worldSize + 1
        partBytes = (largestPart / between.worldSize + 1) * elementSize
        slotBytes = (between.worldSize - 1) * partBytes
        scratch = exchange.workspace.staging(atLeast: 2 * slotBytes)
    }

    /// Piece `p`'s elements.
    func piece(_ p: Int) -> Range<Int> { RingTopology.chunkRange(p, count: count, worldSize: pieces) }

    /// This rank's block of piece `p` (reduced inside the host).
    func block(_ p: Int) -> Range<Int> {
        let piece = piece(p)
        let own = RingTopology.chunkRange(inside.rank, count: piece.count, worldSize: inside.worldSize)
        return (piece.lowerBound + own.lowerBound)..<(piece.lowerBound + own.upperBound)
    }

    /// Part `j` (reduced on host `j`) of a block.
    func part(_ j: Int, of block: Range<Int>) -> Range<Int> {
        let range = RingTopology.chunkRange(j, count: block.count, worldSize: hostCount)
        return (block.lowerBound + range.lowerBound)..<(block.lowerBound + range.upperBound)
    }

    /// Where host `j`'s copy of this rank's part of piece `p` lands.
    func incoming(_ p: Int, from j: Int) -> UnsafeMutableRawPointer {
        scratch + (p % 2) * slotBytes + (j < host ? j : j - 1) * partBytes
    }

    func bytes(_ range: Range<Int>) -> UnsafeMutableRawBufferPointer {
        UnsafeMutableRawBufferPointer(start: base + range.lowerBound * elementSize, count: range.count * elementSize)
    }

    /// Reduce-scatters piece `p` among the host's ranks (sums only: the finish comes later).
    func reduceScatterInside(piece p: Int) throws(TransportError) {
        let piece = piece(p)
        try Ring.run(.reduceScatter, buffer: base + piece.lowerBound * elementSize, count: piece.count, elementSize: elementSize,
                     kernel: summing, exchange: localExchange)
    }

    /// Posts the receives of the other hosts' copies of this rank's part of piece `p`, and the
    /// sends of its other parts to the hosts that reduce them.
    func sendParts(of p: Int) throws(TransportError) -> [TransportRequest] {
        let own = block(p), mine = part(host, of: own)
        var requests: [TransportRequest] = []
        for j in 0..<hostCount where j != host && !mine.isEmpty {
            requests.append(try between.postReceive(into: UnsafeMutableRawBufferPointer(start: incoming(p, from: j), count: mine.count * elementSize),
                                                    from: j, tag: tag))
        }
        for j in 0..<hostCount where j != host {
            let theirs = part(j, of: own)
            if theirs.isEmpty { continue }
            requests.append(try between.postSend(UnsafeRawBufferPointer(bytes(theirs)), to: j, tag: tag))
        }
        return requests
    }

    /// Reduces this rank's part of piece `p` from the other hosts' copies, posts its sends to
    /// every other host and the receives of their parts.
    func reduceAndShare(piece p: Int) throws(TransportError) -> [TransportRequest] {
        let own = block(p), mine = part(host, of: own)
        if !mine.isEmpty {
            let target = base + mine.lowerBound * elementSize
            for j in 0..<hostCount where j != host { kernel.combine(target, incoming(p, from: j), mine.count) }
            kernel.finish?(target, mine.count, worldSize)
        }
        var requests: [TransportRequest] = []
        for j in 0..<hostCount where j != host {
            let theirs = part(j, of: own)
            if theirs.isEmpty { continue }
            requests.append(try between.postReceive(into: bytes(theirs), from: j, tag: tag))
        }
        for j in 0..<hostCount where j != host && !mine.isEmpty {
            requests.append(try between.postSend(UnsafeRawBufferPointer(bytes(mine)), to: j, tag: tag))
        }
        return requests
    }

    /// All-gathers piece `p` among the host's ranks.
    func allGatherInside(piece p: Int) throws(TransportError) {
        let piece = piece(p)
        try Ring.run(.allGather, buffer: base + piece.lowerBound * elementSize, count: piece.count, elementSize: elementSize,
                     kernel: nil, exchange: localExchange)
    }
}

extension Exchange {
    /// The same collective's context over another transport (a subset of this one's ranks).
    func over(_ transport: any Transport) -> Exchange {
        Exchange(transport: transport, tag: tag, deadline: deadline, workspace: workspace, segmentBytes: segmentBytes, window: window)
    }
}
