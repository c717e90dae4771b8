import Collectives
import Testing

@Suite struct RingTopologyTests {
    @Test(arguments: 1...9)
    func chunksCoverTheBufferExactly(worldSize: Int) {
        for count in [0, 1, 3, worldSize - 1, 1000, 1007] where count >= 0 {
            var next = 0
            for chunk in 0..<worldSize {
                let range = RingTopology.chunkRange(chunk, count: count, worldSize: worldSize)
                #expect(range.lowerBound == next)
                #expect(range.count == count / worldSize || range.count == count / worldSize + 1)
                next = range.upperBound
            }
            #expect(next == count)
        }
    }

    @Test(arguments: 2...9)
    func whatARankReceivesItSendsNext(worldSize: Int) {
        for rank in 0..<worldSize {
            let ring = RingTopology(rank: rank, worldSize: worldSize)
            #expect(ring.sendChunk(step: 0) == rank)
            for step in 0..<(ring.stepCount - 1) {
                #expect(ring.sendChunk(step: step + 1) == ring.receiveChunk(step: step))
            }
            // The left neighbour sends exactly what this rank receives.
            let left = RingTopology(rank: ring.left, worldSize: worldSize)
            for step in 0..<ring.stepCount {
                #expect(left.sendChunk(step: step) == ring.receiveChunk(step: step))
            }
            // After the reduce-scatter, the owned chunk is the one received last.
            #expect(ring.receiveChunk(step: worldSize - 2) == ring.ownedChunk)
            // Over the all-gather, every chunk but the owned one arrives once.
            let gathered = Set((worldSize - 1..<ring.stepCount).map { ring.receiveChunk(step: $0) })
            #expect(gathered == Set(0..<worldSize).subtracting([ring.ownedChunk]))
        }
    }

    @Test func segmentsCountRoundsUpAndEmptyChunksHaveNone() {
        #expect(RingTopology.segmentCount(chunkCount: 0, segmentElements: 4) == 0)
        #expect(RingTopology.segmentCount(chunkCount: 1, segmentElements: 4) == 1)
        #expect(RingTopology.segmentCount(chunkCount: 8, segmentElements: 4) == 2)
        #expect(RingTopology.segmentCount(chunkCount: 9, segmentElements: 4) == 3)
    }
}
