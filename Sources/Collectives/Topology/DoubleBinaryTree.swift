/// One node's links in a binary tree over ranks: its parent and up to two children.
package struct TreeLinks: Sendable, Hashable, CustomStringConvertible {
    /// The parent, or `nil` at the root.
    package let parent: Int?
    /// The first child, if any.
    package let child0: Int?
    /// The second child, if any.
    package let child1: Int?

    /// The children, first then second.
    package var children: [Int] { [child0, child1].compactMap { $0 } }

    package var description: String {
        "parent \(parent.map(String.init) ?? "-"), children \(children)"
    }
}

/// The two complementary binary trees of a double-binary-tree all-reduce (as in NCCL), as pure
/// functions of rank and world size.
///
/// The first tree is an in-order binary tree over ranks 0..<n in which every odd rank is a leaf:
/// rank *r* ≠ 0 with lowest set bit *b* hangs under (*r* xor *b*) | 2*b* (or *r* xor *b* when
/// that is past the end), and its children are *r* ± *b*/2. Rank 0 is the root, with the highest
/// power of two below *n* as its only child. The second tree is the first applied to ranks
/// renumbered: mirrored (*n* − 1 − *r*) when *n* is even, shifted by one when it is odd. So
/// the ranks that are leaves in one tree are interior in the other, and every rank sends and
/// receives about the same number of bytes. Depth is ⌈log2 *n*⌉ + 1 at most.
package struct DoubleBinaryTree: Sendable, Hashable {
    package let worldSize: Int

    package init(worldSize: Int) {
        precondition(worldSize > 0)
        self.worldSize = worldSize
    }

    /// The links of `rank` in tree `tree` (0 or 1).
    package func links(of rank: Int, tree: Int) -> TreeLinks {
        precondition(rank >= 0 && rank < worldSize && (tree == 0 || tree == 1))
        let index = toIndex(rank, tree: tree)
        let links = Self.inOrderLinks(of: index, worldSize: worldSize)
        return TreeLinks(parent: links.parent.map { toRank($0, tree: tree) },
                         child0: links.child0.map { toRank($0, tree: tree) },
                         child1: links.child1.map { toRank($0, tree: tree) })
    }

    /// The root of tree `tree`.
    package func root(tree: Int) -> Int { toRank(0, tree: tree) }

    /// The number of levels below the root in the deepest branch of either tree, computed from the
    /// world size alone, so every rank gets the same value.
    package var depth: Int {
        var depth = 0
        for rank in 0..<worldSize {
            var hops = 0, node = rank
            while let parent = links(of: node, tree: 0).parent { node = parent; hops += 1 }
            depth = Swift.max(depth, hops)
        }
        return depth
    }

    private func toIndex(_ rank: Int, tree: Int) -> Int {
        guard tree == 1 else { return rank }
        return worldSize % 2 == 0 ? worldSize - 1 - rank : (rank + worldSize - 1) % worldSize
    }

    private func toRank(_ index: Int, tree: Int) -> Int {
        guard tree == 1 else { return index }
        return worldSize % 2 == 0 ? worldSize - 1 - index : (index + 1) % worldSize
    }

    /// The in-order tree on indices.
    static func inOrderLinks(of index: Int, worldSize n: Int) -> TreeLinks {
        if index == 0 {
            guard n > 1 else { return TreeLinks(parent: nil, child0: nil, child1: nil) }
            var top = 1
            while top * 2 < n { top *= 2 }
            return TreeLinks(parent: nil, child0: top, child1: nil)
        }
        let bit = index & -index
        var parent = (index ^ bit) | (bit << 1)
        if parent >= n { parent = index ^ bit }
        var half = bit >> 1
        guard half > 0 else { return TreeLinks(parent: parent, child0: nil, child1: nil) }
        let first = index - half
        while half > 0, index + half >= n { half >>= 1 }
        return TreeLinks(parent: parent, child0: first, child1: half > 0 ? index + half : nil)
    }
}
