import Collectives
import Testing

@Suite struct DoubleBinaryTreeTests {
    static let worldSizes = Array(1...17) + [31, 32, 33, 64, 100]

    @Test(arguments: worldSizes)
    func everyRankAppearsOnceAndLinksAgree(worldSize n: Int) {
        let shape = DoubleBinaryTree(worldSize: n)
        for tree in 0..<2 {
            let root = shape.root(tree: tree)
            var childOf = [Int?](repeating: nil, count: n)
            for rank in 0..<n {
                let links = shape.links(of: rank, tree: tree)
                #expect((links.parent == nil) == (rank == root), "n \(n) tree \(tree) rank \(rank): \(links)")
                #expect(links.children.count <= 2)
                for child in links.children {
                    #expect(child >= 0 && child < n && child != rank)
                    #expect(childOf[child] == nil, "rank \(child) has two parents")
                    childOf[child] = rank
                    #expect(shape.links(of: child, tree: tree).parent == rank, "n \(n) tree \(tree): \(child)'s parent")
                }
            }
            // Every rank but the root is somebody's child, and walking up reaches the root.
            for rank in 0..<n where rank != root {
                #expect(childOf[rank] == shape.links(of: rank, tree: tree).parent)
                var node = rank, hops = 0
                while let parent = shape.links(of: node, tree: tree).parent, hops <= n { node = parent; hops += 1 }
                #expect(node == root)
            }
        }
    }

    @Test(arguments: worldSizes)
    func depthIsAboutLog2(worldSize n: Int) {
        let depth = DoubleBinaryTree(worldSize: n).depth
        var log2 = 0
        while (1 << log2) < n { log2 += 1 }
        #expect(depth <= log2 + 1, "n \(n): depth \(depth)")
    }

    @Test(arguments: [4, 5, 6, 7, 8, 12, 13, 16])
    func leavesOfOneTreeAreInteriorInTheOther(worldSize n: Int) {
        let shape = DoubleBinaryTree(worldSize: n)
        var leafInBoth = 0
        for rank in 0..<n {
            let a = shape.links(of: rank, tree: 0), b = shape.links(of: rank, tree: 1)
            if a.children.isEmpty && b.children.isEmpty { leafInBoth += 1 }
        }
        #expect(leafInBoth <= 1, "n \(n): \(leafInBoth) ranks are leaves in both trees")
    }
}
