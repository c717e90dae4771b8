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
        guard exchange.worldSize > 1, count > 0, let base = buffer else { return }
        let tree = TreeSchedule(base: base, count: count, elementSize: elementSize, kernel: kernel, exchange: exchange)
        let end = tree.items + tree.lag
        for time in 0..<Swift.min(tree.window, end) { try tree.postReceives(time: time) }
        for time in 0..<end {
            if time + tree.window < end { try tree.postReceives(time: time + tree.window) }
            try tree.up(time: time)
            try tree.down(item: time - tree.lag)
        }
        try exchange.waitForSends()
    }
}

/// One tree all-reduce's schedule: the two trees, the halves and their segments (items), the
/// window of posted receives and the lag between an item's way up and its way down.
private struct TreeSchedule {
    let base: UnsafeMutableRawPointer
    let elementSize: Int
    let kernel: ReductionKernel
    let exchange: Exchange
    let trees: [TreeLinks]
    let halves: [Range<Int>]
    let segmentElements: Int
    let segments: [Int]
    let items: Int
    let window: Int
    let lag: Int
    let slots: Int
    let slotBytes: Int
    let scratch: UnsafeMutableRawPointer
    var workspace: Workspace { exchange.workspace }

    init(base: UnsafeMutableRawPointer, count: Int, elementSize: Int, kernel: ReductionKernel, exchange: Exchange) {
        (self.base, self.elementSize, self.kernel, self.exchange) = (base, elementSize, kernel, exchange)
        let shape = DoubleBinaryTree(worldSize: exchange.worldSize)
        trees = [shape.links(of: exchange.rank, tree: 0), shape.links(of: exchange.rank, tree: 1)]
        halves = [0..<(count / 2), (count / 2)..<count]
        segmentElements = exchange.segmentElements(elementSize)
        segments = halves.map { [segmentElements] in ($0.count + segmentElements - 1) / segmentElements }
        items = 2 * Swift.max(segments[0], segments[1])
        window = Swift.max(1, exchange.window)
        lag = Swift.max(window, shape.depth) + 1
        slots = window + 1
        slotBytes = segmentElements * elementSize
        scratch = exchange.workspace.scratch(atLeast: slots * 2 * slotBytes)
        // Handles of posted receives: up (two per item, by child) and down, by item modulo slots.
        exchange.workspace.receives.removeAll(keepingCapacity: true)
        for _ in 0..<(3 * slots) { exchange.workspace.receives.append(TransportRequest(rawValue: 0)) }
        exchange.workspace.sends.removeAll(keepingCapacity: true)
    }

    /// The elements of item `k`, or `nil` when that half has no such segment.
    func elements(_ k: Int) -> Range<Int>? {
        let half = halves[k & 1], segment = k >> 1
        guard segment < segments[k & 1] else { return nil }
        let start = half.lowerBound + segment * segmentElements
        return start..<Swift.min(start + segmentElements, half.upperBound)
    }

    /// Where child `c`'s segment of the item in `slot` lands.
    func childSegment(_ slot: Int, _ c: Int) -> UnsafeMutableRawPointer { scratch + (2 * slot + c) * slotBytes }

    /// Posts the receives of time `time`: up, from the children, the item `time`; down, from
    /// the parent, the item `time` − lag.
    func postReceives(time: Int) throws(TransportError) {
        if time < items, let range = elements(time) {
            let links = trees[time & 1]
            let slot = time % slots
            let bytes = range.count * elementSize
            if let child = links.child0 {
                workspace.receives[3 * slot] = try exchange.postReceive(childSegment(slot, 0), bytes: bytes, from: child)
            }
            if let child = links.child1 {
                workspace.receives[3 * slot + 1] = try exchange.postReceive(childSegment(slot, 1), bytes: bytes, from: child)
            }
        }
        let item = time - lag
        if item >= 0, item < items, let range = elements(item), let parent = trees[item & 1].parent {
            workspace.receives[3 * (item % slots) + 2] = try exchange.postReceive(
                base + range.lowerBound * elementSize, bytes: range.count * elementSize, from: parent)
        }
    }

    /// Up: combines the children's segments of item `time`, passes the sum to the parent (the
    /// root finishes it instead).
    func up(time: Int) throws(TransportError) {
        guard time < items, let range = elements(time) else { return }
        let links = trees[time & 1]
        let slot = time % slots
        let target = base + range.lowerBound * elementSize
        if links.child0 != nil {
            try exchange.wait(workspace.receives[3 * slot])
            kernel.combine(target, childSegment(slot, 0), range.count)
        }
        if links.child1 != nil {
            try exchange.wait(workspace.receives[3 * slot + 1])
            kernel.combine(target, childSegment(slot, 1), range.count)
        }
        if let parent = links.parent {
            workspace.sends.append(try exchange.postSend(target, bytes: range.count * elementSize, to: parent))
        } else {
            kernel.finish?(target, range.count, exchange.worldSize)
        }
    }

    /// Down: takes item `item`'s result from the parent, passes it to the children.
    func down(item: Int) throws(TransportError) {
        guard item >= 0, let range = elements(item) else { return }
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
