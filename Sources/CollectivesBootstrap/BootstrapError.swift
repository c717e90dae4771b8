import CollectivesRendezvous
import CollectivesTransport

/// Why bootstrap failed: what kind of failure, on which rank, and in words; with the transport's
/// or the store's own error where one of them is the cause.
package struct BootstrapError: Error, Sendable, CustomStringConvertible {
    package enum Kind: Sendable, Hashable {
        /// A setting is missing, malformed or contradicts where the ranks are.
        case configuration
        /// Ranks could not find or agree with each other through the store.
        case rendezvous
        /// The set-up did not finish in time.
        case timedOut
        /// A connection or a transport's set-up failed.
        case transport
    }

    /// What the failure came from, where that is another layer's error.
    package enum Cause: Sendable {
        case transport(TransportError)
        case rendezvous(RendezvousError)
    }

    package let kind: Kind
    /// The rank that saw the failure (-1 before the rank is known).
    package let rank: Int
    package let peer: Int?
    package let reason: String
    package let cause: Cause?
    /// The ranks that never joined, when set-up timed out waiting for them.
    package let missingRanks: [Int]

    package init(_ kind: Kind, rank: Int, peer: Int? = nil, reason: String, missingRanks: [Int] = []) {
        self.kind = kind
        self.rank = rank
        self.peer = peer
        self.reason = reason
        self.missingRanks = missingRanks
        cause = nil
    }

    package init(_ error: TransportError) {
        kind = error.kind == .timedOut ? .timedOut : .transport
        rank = error.rank
        peer = error.peer
        reason = error.description
        missingRanks = []
        cause = .transport(error)
    }

    package init(_ error: RendezvousError, rank: Int) {
        switch error {
        case .timedOut: kind = .timedOut
        case .invalidEnvironment, .invalidConfiguration: kind = .configuration
        default: kind = .rendezvous
        }
        self.rank = rank
        peer = nil
        reason = error.description
        missingRanks = []
        cause = .rendezvous(error)
    }

    package var description: String { rank >= 0 ? "rank \(rank): bootstrap: \(reason)" : "bootstrap: \(reason)" }
}
