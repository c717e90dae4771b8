import CollectivesRendezvous
import CollectivesSystem

/// What a generation became: joiners admitted (every old rank goes on under its number, and
/// the joiners after them) or the survivors of a shrink (renumbered in their old order).
///
/// Stored under ``StoreKeys/Elastic/successor(_:)`` as `admit;0,1,2;4;7` or `shrink;0,2;2;`:
/// kind, the old ranks that go on in their new order, the new world size, the admitted tickets.
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
    package func newRank(of rank: Int) -> Int? { members.firstIndex(of: rank) }

    /// Generation `generation`'s successor, if it was decided.
    static func read(_ generation: Int, from store: any Store, deadline: Deadline) throws -> ElasticSuccessor? {
        guard try store.check([StoreKeys.Elastic.successor(generation)]) else { return nil }
        return try wait(generation, in: store, deadline: deadline)
    }

    /// Generation `generation`'s successor, waiting for it until `deadline`.
    static func wait(_ generation: Int, in store: any Store, deadline: Deadline) throws -> ElasticSuccessor {
        let text = try store.getString(StoreKeys.Elastic.successor(generation), deadline: deadline)
        guard let successor = ElasticSuccessor(text) else {
            throw MembershipError.malformedSuccessor(generation: generation, text: text)
        }
        return successor
    }
}

/// A rank's generation, its number there and that generation's world size.
package struct ElasticPlace: Sendable, Equatable {
    package var generation: Int
    package var rank: Int
    package var worldSize: Int

    package init(generation: Int, rank: Int, worldSize: Int) {
        self.generation = generation
        self.rank = rank
        self.worldSize = worldSize
    }
}
