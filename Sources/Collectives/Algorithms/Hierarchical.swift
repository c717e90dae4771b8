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
        let localExchange = exchange.over(inside)
        let hostCount = across.count, host = between.rank
        let pieces = Swift.max(1, Swift.min(maximumPieces, count * elementSize / pieceBytes))
        let summing = ReductionKernel(combine: kernel.combine, finish: nil)
        let worldSize = exchange.worldSize

        /// Piece `p`'s elements, and this rank's block of it (reduced inside the host).
        func block(_ p: Int) -> Range<Int> {
            let piece = RingTopology.chunkRange(p, count: count, worldSize: pieces)
            let own = RingTopology.chunkRange(inside.rank, count: piece.count, worldSize: local.count)
            return (piece.lowerBound + own.lowerBound)..<(piece.lowerBound + own.upperBound)
        }
        /// Part `j` (reduced on host `j`) of a block.
        func part(_ j: Int, of block: Range<Int>) -> Range<Int> {
            let range = RingTopology.chunkRange(j, count: block.count, worldSize: hostCount)
            return (block.lowerBound + range.lowerBound)..<(block.lowerBound + range.upperBound)
        }
        // Where the other hosts' copies of this rank's part land: a slot per piece in flight.
        let largestPart = (count / pieces + 1) / local.count + 1
        let partBytes = (largestPart / hostCount + 1) * elementSize
        let slotBytes = (hostCount - 1) * partBytes
        let scratch = exchange.workspace.staging(atLeast: 2 * slotBytes)
        func incoming(_ p: Int, from j: Int) -> UnsafeMutableRawPointer {
            scratch + (p % 2) * slotBytes + (j < host ? j : j - 1) * partBytes
        }

        var reduceRequests: [[TransportRequest]] = Array(repeating: [], count: 2)
        var gatherRequests: [[TransportRequest]] = Array(repeating: [], count: 2)
        for step in 0..<(pieces + 2) {
            // 1. Piece `step` inside the host, while earlier pieces travel between hosts.
            if step < pieces {
                let piece = RingTopology.chunkRange(step, count: count, worldSize: pieces)
                try Ring.run(.reduceScatter, buffer: base + piece.lowerBound * elementSize, count: piece.count,
                             elementSize: elementSize, kernel: summing, exchange: localExchange)
                // 2. Its parts to the hosts that reduce them; the others' copies of ours.
                let own = block(step)
                var requests: [TransportRequest] = []
                let mine = part(host, of: own)
                for j in 0..<hostCount where j != host && !mine.isEmpty {
                    requests.append(try between.postReceive(
                        into: UnsafeMutableRawBufferPointer(start: incoming(step, from: j), count: mine.count * elementSize),
                        from: j, tag: exchange.tag))
                }
                for j in 0..<hostCount where j != host {
                    let theirs = part(j, of: own)
                    if theirs.isEmpty { continue }
                    requests.append(try between.postSend(
                        UnsafeRawBufferPointer(start: base + theirs.lowerBound * elementSize, count: theirs.count * elementSize),
                        to: j, tag: exchange.tag))
                }
                reduceRequests[step % 2] = requests
            }
            // 3. The piece before: reduce our part, send it to every other host, take theirs.
            if step >= 1 && step - 1 < pieces {
                let p = step - 1
                for request in reduceRequests[p % 2] { try between.wait(request, deadline: exchange.deadline) }
                let own = block(p)
                let mine = part(host, of: own)
                if !mine.isEmpty {
                    let target = base + mine.lowerBound * elementSize
                    for j in 0..<hostCount where j != host { kernel.combine(target, incoming(p, from: j), mine.count) }
                    kernel.finish?(target, mine.count, worldSize)
                }
                var requests: [TransportRequest] = []
                for j in 0..<hostCount where j != host {
                    let theirs = part(j, of: own)
                    if theirs.isEmpty { continue }
                    requests.append(try between.postReceive(
                        into: UnsafeMutableRawBufferPointer(start: base + theirs.lowerBound * elementSize, count: theirs.count * elementSize),
                        from: j, tag: exchange.tag))
                }
                for j in 0..<hostCount where j != host && !mine.isEmpty {
                    requests.append(try between.postSend(
                        UnsafeRawBufferPointer(start: base + mine.lowerBound * elementSize, count: mine.count * elementSize),
                        to: j, tag: exchange.tag))
                }
                gatherRequests[p % 2] = requests
            }
            // 4. The piece before that: complete, then shared with the host's ranks.
            if step >= 2 {
                let p = step - 2
                for request in gatherRequests[p % 2] { try between.wait(request, deadline: exchange.deadline) }
                let piece = RingTopology.chunkRange(p, count: count, worldSize: pieces)
                try Ring.run(.allGather, buffer: base + piece.lowerBound * elementSize, count: piece.count,
                             elementSize: elementSize, kernel: nil, exchange: localExchange)
            }
        }
    }
}

extension Exchange {
    /// The same collective's context over another transport (a subset of this one's ranks).
    func over(_ transport: any Transport) -> Exchange {
        Exchange(transport: transport, tag: tag, deadline: deadline, workspace: workspace, segmentBytes: segmentBytes, window: window)
    }
}
