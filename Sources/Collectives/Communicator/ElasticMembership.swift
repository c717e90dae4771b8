import CollectivesRendezvous
import CollectivesSystem

/// The store keys of elastic membership (shrinking and growing a job), and what each
/// generation became.
///
/// A job's communicators form a chain of generations: the launcher's is generation 0, and each
/// generation g has at most one successor, g + 1, decided once, by whoever adds 1 to
/// ``next(_:)`` first: rank 0 admitting joiners (``Communicator/admitJoining(maximumWorldSize:awaiting:settings:)``)
/// or the first survivor of a shrink to finish waiting (``Communicator/shrink(grace:)``). The
/// decision is written to ``successor(_:)`` before anyone connects under the new generation, so
/// every rank learns it from the store, which outlives ranks, and never from a collective that
/// may have failed on some ranks and not others. A rank that shrinks first follows the
/// successors already decided (an admission it did not finish), so every survivor shrinks the
/// same generation. `models/membership.pml` is this protocol as a Promela model.
package enum ElasticKeys {
    /// Claimed once (the first `add` returns 1) by whoever decides generation `g`'s successor.
    package static func next(_ g: Int) -> String { "elastic/\(g)/next" }
    /// Generation `g`'s successor, an ``ElasticSuccessor`` record.
    package static func successor(_ g: Int) -> String { "elastic/\(g)/successor" }
    /// Rank `r` of generation `g` is alive and shrinking it.
    package static func alive(_ g: Int, _ r: Int) -> String { "elastic/\(g)/alive/\(r)" }
    /// The prefix of generation `g`'s bootstrap keys.
    package static func job(_ g: Int) -> String { "elastic/\(g)/job" }

    /// Tickets taken by joining processes (a counter).
    package static let tickets = "elastic/join/tickets"
    /// Tickets dealt with so far: admitted, given up or handed back (a counter).
    package static let examined = "elastic/join/examined"
    /// Where ticket `ticket` learns its generation, rank and the grown world size, or
    /// ``requeue`` (take a new ticket: the admission that claimed it failed).
    package static func admission(ticket: Int64) -> String { "elastic/join/admission/\(ticket)" }
    /// Claimed once, by rank 0 admitting the ticket or by its joiner giving up: whoever adds 1
    /// first wins, so a joiner that gave up is never admitted and one admitted is never lost.
    package static func claim(ticket: Int64) -> String { "elastic/join/claim/\(ticket)" }
    /// The admission of a ticket whose admission failed: its joiner takes a new ticket.
    package static let requeue = "requeue"
    /// The settings ticket `ticket`'s process joins with, which the job compares with its own.
    package static func settings(ticket: Int64) -> String { "elastic/join/settings/\(ticket)" }
    /// The admission of a ticket refused for a setting: `refused;` and the JSON of the
    /// difference.
    package static let refusedPrefix = "refused;"
}

/// What a generation became: joiners admitted (every old rank goes on under its number, and
/// the joiners after them) or the survivors of a shrink (renumbered in their old order).
///
/// Stored as `admit;0,1,2;4;7` or `shrink;0,2;2;`: kind, the old ranks that go on in their new
/// order, the new world size, the admitted tickets.
package struct ElasticSuccessor: Equatable, Sendable {
    package enum Kind: String, Sendable { case admitted = "admit", shrunk = "shrink" }
    package var kind: Kind
    package var members: [Int]
    package var worldSize: Int
    package var tickets: [Int64] = []

    var encoded: String {
        [kind.rawValue, members.map(String.init).joined(separator: ","), String(worldSize),
         tickets.map(String.init).joined(separator: ",")].joined(separator: ";")
    }

    package init(kind: Kind, members: [Int], worldSize: Int, tickets: [Int64] = []) {
        self.kind = kind
        self.members = members
        self.worldSize = worldSize
        self.tickets = tickets
    }

    package init?(_ text: String) {
        let fields = text.split(separator: ";", omittingEmptySubsequences: false)
        guard fields.count == 4, let kind = Kind(rawValue: String(fields[0])), let worldSize = Int(fields[2]) else { return nil }
        let members = fields[1].split(separator: ",").map { Int($0) }
        let tickets = fields[3].split(separator: ",").map { Int64($0) }
        guard !members.contains(nil), !tickets.contains(nil) else { return nil }
        self.init(kind: kind, members: members.map { $0! }, worldSize: worldSize, tickets: tickets.map { $0! })
    }

    /// The number in the new generation of old rank `rank`, or nil if it does not go on.
    func newRank(of rank: Int) -> Int? { members.firstIndex(of: rank) }

    /// Generation `generation`'s successor, if it was decided.
    static func read(_ generation: Int, from store: any Store, deadline: Deadline) throws -> ElasticSuccessor? {
        guard try store.check([ElasticKeys.successor(generation)]) else { return nil }
        return try wait(generation, in: store, deadline: deadline)
    }

    /// Generation `generation`'s successor, waiting for it until `deadline`.
    static func wait(_ generation: Int, in store: any Store, deadline: Deadline) throws -> ElasticSuccessor {
        let text = try store.getString(ElasticKeys.successor(generation), deadline: deadline)
        guard let successor = ElasticSuccessor(text) else {
            throw RendezvousError.protocolViolation("the job's store holds a malformed successor of generation \(generation): \"\(text)\"")
        }
        return successor
    }
}

extension CollectivesError {
    /// Any error of the store or of a nested elastic step, as the collectives error of
    /// `operation` on `rank`.
    static func elastic(_ error: any Error, rank: Int?, operation: String) -> CollectivesError {
        switch error {
        case let error as CollectivesError: return error
        case let error as RendezvousError: return CollectivesError(error, rank: rank, operation: operation)
        default: return CollectivesError(.rendezvous, rank: rank, operation: operation, reason: "\(error)")
        }
    }
}
