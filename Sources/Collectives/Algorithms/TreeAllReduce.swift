import CollectivesSystem
import CollectivesTransport

/// Pipelined double-binary-tree all-reduce (as in NCCL).
///
/// The buffer is cut in two halves; half *t* is reduced up tree *t* of ``DoubleBinaryTree`` to
/// its root and broadcast back down, in segments. Since a rank is a leaf in one tree and interior
/// in the other, the work and the bytes are spread evenly. Latency grows with the depth,
/// 2(⌈log2 n⌉ + 1) messages, instead of the ring's 2(*n* − 1).
///
/// ## Schedule
/// Segments of the two halves alternate to form *items* 0, 1, 2…; item *k* goes up at time *k*
/// and down at time *k* + *L*, where the lag *L* exceeds the receive window *W* and the tree's
/// depth. At each time a rank first posts the receives of time *t* + *W* (up: from its
/// children into scratch; down: from its parent into the buffer), then combines its children's
/// segments of item *t* and sends the result up (the root finishes it instead), then forwards
/// item *t* − *L* down. Every pair of ranks therefore posts its sends and its receives in the same
/// order, (time, up before down), which is what the transport's in-order matching needs, and no
/// rank waits for a message whose sender waits for it.
enum TreeAllReduce {
    static func run(
        buffer: UnsafeMutableRawPointer?, count: Int, elementSize: Int, kernel: ReductionKernel, exchange: Exchange
    ) throws(TransportError) {
        let n = exchange.worldSize
        guard n > 1, count > 0, let base = buffer else { return }
        let shape = DoubleBinaryTree(worldSize: n)
        let trees = [shape.links(of: exchange.rank, tree: 0), shape.links(of: exchange.rank, tree: 1)]
        let halves = [0..<(count / 2), (count / 2)..<count]
        let segmentElements = exchange.segmentElements(elementSize)
        let segments = halves.map { ($0.count + segmentElements - 1) / segmentElements }
        let items = 2 * Swift.max(segments[0], segments[1])
        let window = Swift.max(1, exchange.window)
        let lag = Swift.max(window, shape.depth) + 1
        let slots = window + 1
        let slotBytes = segmentElements * elementSize
        let workspace = exchange.workspace
        let scratch = workspace.scratch(atLeast: slots * 2 * slotBytes)

        /// The elements of item `k`, or `nil` when that half has no such segment.
        func elements(_ k: Int) -> Range<Int>? {
            let half = halves[k & 1], segment = k >> 1
            guard segment < segments[k & 1] else { return nil }
            let start = half.lowerBound + segment * segmentElements
            return start..<Swift.min(start + segmentElements, half.upperBound)
        }

        // Handles of posted receives: up (two per item, by child) and down, by item modulo slots.
        workspace.receives.removeAll(keepingCapacity: true)
        for _ in 0..<(3 * slots) { workspace.receives.append(TransportRequest(rawValue: 0)) }
        workspace.sends.removeAll(keepingCapacity: true)

        func postReceives(time: Int) throws(TransportError) {
            if time < items, let range = elements(time) {
                let links = trees[time & 1]
                let slot = time % slots
                let bytes = range.count * elementSize
                if let child = links.child0 {
                    workspace.receives[3 * slot] = try exchange.postReceive(scratch + (2 * slot) * slotBytes, bytes: bytes, from: child)
                }
                if let child = links.child1 {
                    workspace.receives[3 * slot + 1] = try exchange.postReceive(scratch + (2 * slot + 1) * slotBytes, bytes: bytes, from: child)
                }
            }
            let item = time - lag
            if item >= 0, item < items, let range = elements(item), let parent = trees[item & 1].parent {
                workspace.receives[3 * (item % slots) + 2] = try exchange.postReceive(
                    base + range.lowerBound * elementSize, bytes: range.count * elementSize, from: parent)
            }
        }

        let end = items + lag
        for time in 0..<Swift.min(window, end) { try postReceives(time: time) }
        for time in 0..<end {
            if time + window < end { try postReceives(time: time + window) }
            // Up: combine the children's segments, pass the sum to the parent.
            if time < items, let range = elements(time) {
                let links = trees[time & 1]
                let slot = time % slots
                let target = base + range.lowerBound * elementSize
                if links.child0 != nil {
                    try exchange.wait(workspace.receives[3 * slot])
                    kernel.combine(target, scratch + (2 * slot) * slotBytes, range.count)
                }
                if links.child1 != nil {
                    try exchange.wait(workspace.receives[3 * slot + 1])
                    kernel.combine(target, scratch + (2 * slot + 1) * slotBytes, range.count)
                }
                if let parent = links.parent {
                    workspace.sends.append(try exchange.postSend(target, bytes: range.count * elementSize, to: parent))
                } else {
                    kernel.finish?(target, range.count, n)
                }
            }
            // Down: take the result from the parent, pass it to the children.
            let item = time - lag
            if item >= 0, let range = elements(item) {
                let links = trees[item & 1]
                let source = base + range.lowerBound * elementSize
                if links.parent != nil { try exchange.wait(workspace.receives[3 * (item % slots) + 2]) }
                if let child = links.child0 {
                    workspace.sends.append(try exchange.postSend(source, bytes: range.count * elementSize, to: child))
                }
                if let child = links.child1 {
                    workspace.sends.append(try exchange.postSend(source, bytes: range.count * elementSize, to: child))
                }
            }
        }
        try exchange.waitForSends()
    }
}
