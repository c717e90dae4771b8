import CollectivesBootstrap
import CollectivesRendezvous
import CollectivesTransport

/// An error from a communicator, at every layer (environment, bootstrap, transport, collective):
/// it names the rank that saw it, the operation, the peer involved when there is one, and the
/// ranks that never arrived when that is what went wrong.
///
/// Reads like `rank 1: all-reduce #7 (1000 × float32, sum): receive from rank 0 (127.0.0.1:40111): timed out`.
public struct CollectivesError: Error, Sendable, CustomStringConvertible {
    /// What kind of failure this is, for code that reacts to it.
    /// What kind of failure. A struct with a constant per kind rather than an enum, so that a
    /// later version can add kinds without breaking a program's `switch` (which needs a
    /// `default:`), as SwiftNIO's error codes do. Compare with `==` or match with `case .timedOut:`.
    public struct Kind: Sendable, Hashable, CustomStringConvertible {
        private let name: String
        private init(_ name: String) { self.name = name }

        /// A deadline passed.
        public static let timedOut = Kind("timedOut")
        /// A peer closed its connection or died.
        public static let peerGone = Kind("peerGone")
        /// Ranks called different collectives, or the same one with different arguments.
        public static let mismatch = Kind("mismatch")
        /// The caller passed something invalid.
        public static let invalidArgument = Kind("invalidArgument")
        /// The communicator was closed or aborted.
        public static let closed = Kind("closed")
        /// Finding the other ranks failed (store unreachable, rank claimed twice, timeout…).
        public static let rendezvous = Kind("rendezvous")
        /// The configuration (environment variables, options) is invalid.
        public static let configuration = Kind("configuration")
        /// A system call or the peer's protocol failed.
        public static let transport = Kind("transport")

        /// Every kind this version has.
        public static let all: [Kind] = [.timedOut, .peerGone, .mismatch, .invalidArgument, .closed, .rendezvous, .configuration, .transport]

        /// The kind's name, as its constant is spelled (`timedOut`).
        public var description: String { name }
    }

    public let kind: Kind
    /// The rank that saw the error; `nil` before the rank is known (reading the environment).
    public let rank: Int?
    /// The operation: `"bootstrap"`, `"all-reduce #7 (1000 × float32, sum)"`…
    public let operation: String
    /// The peer involved, if any.
    public let peer: Int?
    /// What went wrong, in words.
    public let reason: String
    /// The ranks that had not reached the call, for a timeout whose cause the ranks' published
    /// progress (or, during bootstrap, the store) could tell; empty otherwise.
    public let missingRanks: [Int]
    /// For a peer that closed because it had failed itself: the rank whose loss (or timeout)
    /// started that failure, from the record each failing rank leaves in the rendezvous store
    /// before it closes its connections. `nil` when the peer itself died or no store could say.
    public internal(set) var firstFailedRank: Int?
    /// For a joining process refused by the job: the first setting in which it differs from the
    /// job's (see ``Communicator/join(store:options:timeout:settings:)``).
    public internal(set) var differingSetting: SettingDifference?

    /// A setting a joining process has other than the job's (nil where one side has none).
    public struct SettingDifference: Sendable, Equatable {
        public let name: String
        public let job: String?
        public let joiner: String?
    }

    /// An error of `kind`; a negative `rank` means the rank is not known.
    public init(_ kind: Kind, rank: Int?, operation: String, peer: Int? = nil, reason: String, missingRanks: [Int] = []) {
        self.kind = kind
        self.rank = rank.flatMap { $0 >= 0 ? $0 : nil }
        self.operation = operation
        self.peer = peer
        self.reason = reason
        self.missingRanks = missingRanks
    }

    public var description: String {
        rank.map { "rank \($0): \(operation): \(reason)" } ?? "\(operation): \(reason)"
    }

    /// Wraps a transport error met during `operation`.
    init(_ error: TransportError, operation: String) {
        let kind: Kind
        switch error.kind {
        case .timedOut: kind = .timedOut
        case .peerGone: kind = .peerGone
        case .mismatch: kind = .mismatch
        case .invalidArgument: kind = .invalidArgument
        case .closed: kind = .closed
        case .system, .protocolViolation: kind = .transport
        }
        // Two calls that differ: name both, as the ranks made them.
        if let mismatch = error.mismatch, let sent = CallDescriptor(mismatch.sent), let expected = CallDescriptor(mismatch.expected) {
            let why = sent.description == expected.description
                ? "rank \(mismatch.sender) sent \(mismatch.sentBytes) bytes where rank \(mismatch.receiver) expected \(mismatch.expectedBytes), both in \(sent)"
                : "ranks called different collectives: rank \(mismatch.sender) called \(sent), rank \(mismatch.receiver) called \(expected)"
            self.init(.mismatch, rank: error.rank, operation: operation, peer: error.peer, reason: why)
            return
        }
        self.init(kind, rank: error.rank, operation: operation, peer: error.peer, reason: error.summary)
    }

    /// Wraps a bootstrap error (its cause's own words where it has one).
    init(_ error: BootstrapError, operation: String) {
        switch error.cause {
        case .transport(let cause): self.init(cause, operation: operation)
        case .rendezvous(let cause): self.init(cause, rank: error.rank, operation: operation)
        case nil:
            let kind: Kind
            switch error.kind {
            case .configuration: kind = .configuration
            case .rendezvous: kind = .rendezvous
            case .timedOut: kind = .timedOut
            case .transport: kind = .transport
            }
            self.init(kind, rank: error.rank, operation: operation, peer: error.peer, reason: error.reason, missingRanks: error.missingRanks)
        }
    }

    /// Wraps a rendezvous error met during `operation`.
    init(_ error: RendezvousError, rank: Int?, operation: String) {
        let kind: Kind
        switch error {
        case .timedOut: kind = .timedOut
        case .invalidEnvironment, .invalidConfiguration: kind = .configuration
        default: kind = .rendezvous
        }
        self.init(kind, rank: rank, operation: operation, reason: error.description)
    }
}
