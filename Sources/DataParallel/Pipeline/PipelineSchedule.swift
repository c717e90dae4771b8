/// The order in which a pipeline stage runs its micro-batches' forward and backward passes.
///
/// Every stage runs the backward passes in micro-batch order, so the messages between two
/// stages arrive in the order they are expected.
public enum PipelineSchedule: String, Sendable, CaseIterable {
    /// GPipe (Huang et al. 2019): every micro-batch forward, then every one backward. Keeps all
    /// micro-batches' activations until the flush.
    case gpipe
    /// One forward, one backward (PipeDream-Flush, Narayanan et al. 2021): stage *s* of *S*
    /// runs *S − s − 1* forwards ahead, then alternates a forward with a backward, then drains
    /// the backwards. The same bubble as GPipe, but at most *S − s* micro-batches' activations
    /// alive at once.
    case oneForwardOneBackward = "1f1b"

    /// One pass of one micro-batch.
    package enum Step: Hashable, Sendable {
        case forward(Int)
        case backward(Int)
    }

    /// The passes of `stage` (of `stages`) over `microBatches` micro-batches, in order.
    package func steps(stage: Int, stages: Int, microBatches: Int) -> [Step] {
        precondition(stages >= 1 && (0..<stages).contains(stage) && microBatches >= 0)
        switch self {
        case .gpipe:
            return (0..<microBatches).map(Step.forward) + (0..<microBatches).map(Step.backward)
        case .oneForwardOneBackward:
            let warmUp = min(stages - stage - 1, microBatches)
            var steps = (0..<warmUp).map(Step.forward)
            for i in 0..<(microBatches - warmUp) {
                steps.append(.forward(warmUp + i))
                steps.append(.backward(i))
            }
            steps += ((microBatches - warmUp)..<microBatches).map(Step.backward)
            return steps
        }
    }

    /// The most micro-batches whose activations `stage` holds at once.
    package func activationsInFlight(stage: Int, stages: Int, microBatches: Int) -> Int {
        var alive = 0, most = 0
        for step in steps(stage: stage, stages: stages, microBatches: microBatches) {
            if case .forward = step { alive += 1 } else { alive -= 1 }
            most = max(most, alive)
        }
        return most
    }
}

/// How a model's layers are cut into pipeline stages.
public enum PipelinePartition {
    /// Contiguous ranges of layers, one per stage in order, each with at least one layer, that
    /// make the stage with the most work (`costs`, per layer: for dense layers the parameter
    /// count, which forward and backward time is proportional to) as light as it can be.
    public static func layers(costs: [Int], stages: Int) -> [Range<Int>] {
        let count = costs.count
        precondition(stages >= 1 && stages <= count, "\(stages) stages for \(count) layers")
        var prefix = [0]
        for cost in costs { prefix.append(prefix.last! + cost) }
        // best[k][i]: the lightest heaviest stage cutting the first i layers into k stages.
        let unreachable = Int.max
        var best = [[Int]](repeating: [Int](repeating: unreachable, count: count + 1), count: stages + 1)
        var cut = [[Int]](repeating: [Int](repeating: 0, count: count + 1), count: stages + 1)
        best[0][0] = 0
        for k in 1...stages {
            for i in k...count {
                for j in (k - 1)..<i where best[k - 1][j] != unreachable {
                    let heaviest = max(best[k - 1][j], prefix[i] - prefix[j])
                    if heaviest < best[k][i] {
                        best[k][i] = heaviest
                        cut[k][i] = j
                    }
                }
            }
        }
        var ranges: [Range<Int>] = []
        var end = count
        for k in stride(from: stages, through: 1, by: -1) {
            let start = cut[k][end]
            ranges.append(start..<end)
            end = start
        }
        return ranges.reversed()
    }
}
