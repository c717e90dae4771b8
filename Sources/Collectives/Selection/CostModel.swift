/// The alpha-beta(-gamma) model of a collective's time: each message costs a latency α, each
/// byte on the busiest link β, each byte reduced γ.
///
/// A communicator measures α and β between ring neighbours (and γ on its own reduction kernel)
/// the first time it has to choose, agrees on the slowest rank's values with the others (so
/// every rank makes the same choice), and predicts each candidate's time with the formulas of
/// docs/algorithms.md. `COLLECTIVES_LATENCY_US` and `COLLECTIVES_BANDWIDTH_GBPS` (with
/// `COLLECTIVES_REDUCE_GBPS`) set the constants instead of measuring them.
public struct CostModel: Sendable, Hashable, CustomStringConvertible {
    /// α: seconds per message (one step of an algorithm).
    public var latencySeconds: Double
    /// β: seconds per byte sent over one link.
    public var secondsPerByte: Double
    /// γ: seconds per byte combined by the reduction kernel.
    public var reduceSecondsPerByte: Double
    /// α of one step inside a running ring, where each rank waits only for a neighbour that is
    /// already at work: often well below ``latencySeconds`` when ranks share cores.
    public var ringStepSeconds: Double
    /// β between the ranks of one host, where ranks span hosts with several on each (measured
    /// apart from ``secondsPerByte``, which is then the slowest link: one between hosts); `nil`
    /// where not measured.
    public var localSecondsPerByte: Double?
    /// The one-shot all-reduce measured on the board, where there is one: its time for 8 bytes
    /// and the time each further byte adds (over this world size); `nil` where not measured.
    public var oneShot: OneShotCost?
    /// Recursive doubling, the tree and Rabenseifner's timed whole on a few bytes, where measured: what their
    /// latency terms are when ranks share cores (each step then waits for a peer to be
    /// scheduled, which an isolated exchange, α, does not see). Where measured, the prediction
    /// of each is its formula plus what the measurement exceeds the formula by at 8 bytes.
    public var smallMessage: SmallMessageCost?

    /// The measured time of an 8-byte all-reduce by recursive doubling and by the tree, and of
    /// one float32 per rank by Rabenseifner's (so that no rank's block is empty).
    public struct SmallMessageCost: Sendable, Hashable {
        public var recursiveDoublingSeconds: Double
        public var treeSeconds: Double
        public var rabenseifnerSeconds: Double
        public init(recursiveDoublingSeconds: Double, treeSeconds: Double, rabenseifnerSeconds: Double = 0) {
            self.recursiveDoublingSeconds = recursiveDoublingSeconds
            self.treeSeconds = treeSeconds
            self.rabenseifnerSeconds = rabenseifnerSeconds
        }
    }

    /// A one-shot all-reduce's measured time: ``fixedSeconds`` + bytes × ``secondsPerByte``.
    public struct OneShotCost: Sendable, Hashable {
        public var fixedSeconds: Double
        public var secondsPerByte: Double
        public init(fixedSeconds: Double, secondsPerByte: Double) {
            self.fixedSeconds = fixedSeconds
            self.secondsPerByte = secondsPerByte
        }
    }

    public init(latencySeconds: Double, secondsPerByte: Double, reduceSecondsPerByte: Double, ringStepSeconds: Double? = nil,
                localSecondsPerByte: Double? = nil, oneShot: OneShotCost? = nil, smallMessage: SmallMessageCost? = nil) {
        self.oneShot = oneShot
        self.smallMessage = smallMessage
        self.latencySeconds = latencySeconds
        self.secondsPerByte = secondsPerByte
        self.reduceSecondsPerByte = reduceSecondsPerByte
        self.ringStepSeconds = ringStepSeconds ?? latencySeconds
        self.localSecondsPerByte = localSecondsPerByte
    }

    public var description: String {
        let us = latencySeconds * 1e6, link = 1e-9 / secondsPerByte, reduce = 1e-9 / reduceSecondsPerByte
        let local = localSecondsPerByte.map { ", inside a host \(Self.format(1e-9 / $0)) GB/s" } ?? ""
        let board = oneShot.map { ", one-shot \(Self.format($0.fixedSeconds * 1e6)) µs + \(Self.format($0.secondsPerByte * 1e12)) ps/B" } ?? ""
        let small = smallMessage.map {
            ", 8 B by recursive doubling \(Self.format($0.recursiveDoublingSeconds * 1e6)) µs, by tree \(Self.format($0.treeSeconds * 1e6)) µs"
                + ", n × 4 B by Rabenseifner \(Self.format($0.rabenseifnerSeconds * 1e6)) µs"
        } ?? ""
        return "α \(Self.format(us)) µs (ring step \(Self.format(ringStepSeconds * 1e6)) µs), link \(Self.format(link)) GB/s\(local), reduction \(Self.format(reduce)) GB/s\(board)\(small)"
    }

    /// The predicted time of the hierarchical all-reduce of `bytes` over `hosts` hosts of
    /// `ranksPerHost` ranks each, its phases pipelined over pieces of 2 MiB (at most 16); `nil`
    /// without ``localSecondsPerByte``.
    ///
    /// Inside a host: 2(*L* − 1) ring steps per piece, 2(*L* − 1)/*L* · *N* bytes at the local β,
    /// (*L* − 1)/*L* · *N* reduced. Across: 2 steps per piece, 2(*H* − 1)/*H* · *N* bytes through
    /// each host's link (its *L* ranks share it) at β, (*H* − 1)/*H* · *N*/*L* reduced. The two
    /// overlap but for one piece's worth of the shorter.
    package func predictedHierarchicalSeconds(bytes: Int, hosts H: Int, ranksPerHost L: Int) -> Double? {
        guard let localBeta = localSecondsPerByte else { return nil }
        guard H > 1, L > 1, bytes > 0 else { return 0 }
        let N = Double(bytes), h = Double(H), l = Double(L), γ = reduceSecondsPerByte
        let pieces = Double(Swift.max(1, Swift.min(16, bytes / (2 << 20))))
        let inside = 2 * (l - 1) * pieces * ringStepSeconds + 2 * (l - 1) / l * N * localBeta + (l - 1) / l * N * γ
        let across = 2 * pieces * latencySeconds + 2 * (h - 1) / h * N * secondsPerByte + (h - 1) / h * N / l * γ
        return Swift.max(inside, across) + Swift.min(inside, across) / pieces
    }

    private static func format(_ value: Double) -> String {
        let rounded = (value * 100).rounded() / 100
        return "\(rounded)"
    }

    /// The predicted time of an all-reduce of `bytes` over `worldSize` ranks with `algorithm`.
    package func predictedSeconds(_ algorithm: Algorithm, bytes: Int, worldSize n: Int, segmentBytes: Int) -> Double {
        guard n > 1, bytes > 0 else { return 0 }
        let formula = formulaSeconds(algorithm, bytes: bytes, worldSize: n, segmentBytes: segmentBytes)
        guard let smallMessage else { return formula }
        let measured: Double
        switch algorithm {
        case .recursiveDoubling: measured = smallMessage.recursiveDoublingSeconds
        case .tree: measured = smallMessage.treeSeconds
        case .rabenseifner: measured = smallMessage.rabenseifnerSeconds
        default: return formula
        }
        let excess = measured - formulaSeconds(algorithm, bytes: algorithm == .rabenseifner ? 4 * n : 8, worldSize: n, segmentBytes: segmentBytes)
        return formula + Swift.max(0, excess)
    }

    /// The alpha-beta-gamma formula of `algorithm` (docs/algorithms.md).
    private func formulaSeconds(_ algorithm: Algorithm, bytes: Int, worldSize n: Int, segmentBytes: Int) -> Double {
        let N = Double(bytes), α = latencySeconds, β = secondsPerByte, γ = reduceSecondsPerByte
        let segment = Double(Swift.max(1, segmentBytes))
        switch algorithm {
        case .ring, .auto, .hierarchical:
            let share = Double(n - 1) / Double(n)
            // One pipelined step per segment of a chunk, at least one per step.
            let stepsPerChunk = Swift.max(1, (N / Double(n) / segment).rounded(.up))
            let step = ringStepSeconds
            return Double(2 * (n - 1)) * step + (stepsPerChunk - 1) * step + 2 * share * N * β + share * N * γ
        case .tree:
            let depth = Double(DoubleBinaryTree(worldSize: n).depth)
            let children = n >= 4 ? 2.0 : 1.0
            let half = N / 2
            let fill = 2 * depth * Swift.min(segment, half) * β
            return 2 * depth * α + (children + 2) * half * β + children * half * γ + fill
        case .recursiveDoubling:
            var power = 1, rounds = 0
            while power * 2 <= n { power *= 2; rounds += 1 }
            let extra = power < n
            let r = Double(rounds)
            return (r + (extra ? 2 : 0)) * α + (r + (extra ? 2 : 0)) * N * β + (r + (extra ? 1 : 0)) * N * γ
        case .central:
            // Reduce to and broadcast from one rank over its one link.
            return 2 * α + 2 * Double(n - 1) * N * β + Double(n - 1) * N * γ
        case .rabenseifner:
            var power = 1, rounds = 0
            while power * 2 <= n { power *= 2; rounds += 1 }
            let share = Double(power - 1) / Double(power)
            let fold = power < n ? 2 * α + 2 * N * β + N * γ : 0
            return 2 * Double(rounds) * α + 2 * share * N * β + share * N * γ + fold
        case .oneShot:
            if let oneShot { return oneShot.fixedSeconds + N * oneShot.secondsPerByte }
            // One step: a copy in, then n − 1 posts read and combined.
            return α + N * β + Double(n - 1) * N * (β + γ)
        }
    }

    /// The largest all-reduce ``Algorithm/rabenseifner`` is a candidate for: 1 MiB. Measured on
    /// the 2-core machine (docs/benchmarks.md), it beats the ring from 64 KiB to 1 MiB at 2, 4 and
    /// 8 ranks and loses from 4 MiB up, where its halves (not pipelined as the ring's segments
    /// are) no longer stream through the caches; the formulas, alike in bytes, cannot tell.
    package static let rabenseifnerLimit = 1 << 20

    /// The candidate of ``Algorithm/automaticCandidates`` with the least predicted time (the
    /// first of them on a tie); ``Algorithm/rabenseifner`` only up to ``rabenseifnerLimit``. ``Algorithm/oneShot`` is a candidate only for messages of at
    /// most `boardCapacity` bytes (0: no board).
    package func choose(bytes: Int, worldSize: Int, segmentBytes: Int, boardCapacity: Int = 0) -> Algorithm {
        var best = Algorithm.ring
        var bestTime = Double.infinity
        for candidate in Algorithm.automaticCandidates where candidate != .oneShot || bytes <= boardCapacity {
            if candidate == .rabenseifner && bytes > Self.rabenseifnerLimit { continue }
            let time = predictedSeconds(candidate, bytes: bytes, worldSize: worldSize, segmentBytes: segmentBytes)
            if time < bestTime {
                best = candidate
                bestTime = time
            }
        }
        return best
    }
}
