/// How an all-reduce moves its data.
///
/// ``auto`` (the default) lets the communicator choose by message size and world size with its
/// ``CostModel``; the others force one. `COLLECTIVES_ALGORITHM` sets the communicator's default,
/// and every all-reduce call can override it.
public enum Algorithm: String, Sendable, Hashable, CaseIterable, CustomStringConvertible {
    /// Chosen per call by the cost model among ``ring``, ``tree``, ``recursiveDoubling``,
    /// ``rabenseifner`` and,
    /// where every rank shares one host's memory, ``oneShot``.
    case auto
    /// Pipelined ring: reduce-scatter then all-gather. Bandwidth-optimal; 2(*n* − 1) latencies.
    case ring
    /// Pipelined double binary tree: about 2 log2 *n* latencies and about twice the data per rank.
    case tree
    /// Recursive doubling: ⌈log2 *n*⌉ exchanges of the whole buffer. For small messages.
    case recursiveDoubling = "recursive-doubling"
    /// Reduce to rank 0, then broadcast from it: the parameter-server baseline. Never chosen
    /// automatically.
    case central
    /// For ranks on several hosts, the same number on each: reduce-scatter inside each host,
    /// all-reduce across hosts, all-gather inside each host (docs/algorithms.md). ``auto``
    /// chooses it where it would choose ``ring``; elsewhere (one host, uneven hosts) it runs
    /// as ``ring``.
    case hierarchical
    /// One step: every rank posts its whole buffer on the shared-memory board and combines
    /// everyone's posts in rank order, reading them in place. For small messages (up to 32 KiB)
    /// when every rank is on one host; elsewhere, or for larger messages, it runs as
    /// ``recursiveDoubling``.
    case oneShot = "one-shot"
    /// Rabenseifner's: reduce-scatter by recursive halving, then all-gather by recursive
    /// doubling. 2 log2 *n* latencies and the ring's bytes per rank: for mid-size messages.
    case rabenseifner

    public var description: String { rawValue }

    /// Parses a name as `COLLECTIVES_ALGORITHM` and the command lines spell it (`ring`, `tree`,
    /// `recursive-doubling` or `rd`, `rabenseifner` or `rhd`, `one-shot`, `central`, `hierarchical`, `auto`).
    public init?(name: String) {
        switch name.lowercased() {
        case "rd", "recursive_doubling", "recursivedoubling": self = .recursiveDoubling
        case "parameter-server", "ps": self = .central
        case "oneshot", "one_shot": self = .oneShot
        case "halving-doubling", "rhd": self = .rabenseifner
        default:
            guard let value = Algorithm(rawValue: name.lowercased()) else { return nil }
            self = value
        }
    }

    /// The algorithms ``auto`` chooses among (``oneShot`` only where a board carries it).
    package static let automaticCandidates: [Algorithm] = [.ring, .tree, .recursiveDoubling, .rabenseifner, .oneShot]
}
