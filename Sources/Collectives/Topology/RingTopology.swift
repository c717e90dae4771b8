/// The shape of a ring all-reduce as pure functions: which chunk each rank sends and receives at
/// each step, and how a buffer is cut into chunks and segments. Moves no data; tested alone.
///
/// With *n* ranks the buffer is cut into *n* chunks whose sizes differ by at most one element.
/// Steps 0 ..< n−1 are the reduce-scatter, steps n−1 ..< 2(n−1) the all-gather. At every step
/// each rank sends one chunk to its right neighbour (rank + 1) and receives one from its left
/// (rank − 1); what it receives at step *s* is what it sends at step *s* + 1.
package struct RingTopology: Sendable, Hashable {
    package let rank: Int
    package let worldSize: Int

    package init(rank: Int, worldSize: Int) {
        precondition(worldSize > 0 && rank >= 0 && rank < worldSize)
        self.rank = rank
        self.worldSize = worldSize
    }

    /// The rank this one sends to.
    package var right: Int { (rank + 1) % worldSize }
    /// The rank this one receives from.
    package var left: Int { (rank + worldSize - 1) % worldSize }
    /// Steps in the whole all-reduce: 2(n − 1).
    package var stepCount: Int { 2 * (worldSize - 1) }

    private func wrap(_ value: Int) -> Int { ((value % worldSize) + worldSize) % worldSize }

    /// The chunk sent at `step`.
    package func sendChunk(step: Int) -> Int {
        step < worldSize - 1 ? wrap(rank - step) : wrap(rank + 1 - (step - (worldSize - 1)))
    }

    /// The chunk received at `step`.
    package func receiveChunk(step: Int) -> Int {
        step < worldSize - 1 ? wrap(rank - step - 1) : wrap(rank - (step - (worldSize - 1)))
    }

    /// Whether `step` belongs to the reduce-scatter half (received data is combined, not copied).
    package func isReduceStep(_ step: Int) -> Bool { step < worldSize - 1 }

    /// The chunk whose fully reduced value this rank computes (and sends first in the all-gather).
    package var ownedChunk: Int { wrap(rank + 1) }

    /// The element range of `chunk` when `count` elements are cut into `worldSize` chunks.
    package static func chunkRange(_ chunk: Int, count: Int, worldSize: Int) -> Range<Int> {
        let base = count / worldSize, extra = count % worldSize
        let start = chunk * base + Swift.min(chunk, extra)
        return start..<(start + base + (chunk < extra ? 1 : 0))
    }

    /// The number of segments of a chunk of `chunkCount` elements, segments holding at most
    /// `segmentElements` (an empty chunk has none).
    package static func segmentCount(chunkCount: Int, segmentElements: Int) -> Int {
        (chunkCount + segmentElements - 1) / segmentElements
    }
}
