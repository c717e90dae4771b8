import CollectivesRendezvous
import CollectivesSystem

private typealias Keys = StoreKeys.Elastic

/// Going on without lost ranks.
extension Membership {
    /// What a shrink made: the generation shrunk (this rank's, or a newer one it had been
    /// admitted to and not finished), the ranks lost there, and this rank's place in the new
    /// generation, connected.
    package struct Shrunk {
        package var from: ElasticPlace
        package var lost: [Int]
        package var place: ElasticPlace
        package var group: Bootstrapped
    }

    /// Shrinks `place`'s generation (or the newest one decided after it that this rank is a
    /// member of) to the ranks still alive: marks this rank alive, waits for the others until
    /// every rank is marked or `grace` passes, has the first rank to finish waiting write the
    /// living as the successor, and connects this rank under its new number.
    package func shrink(_ place: ElasticPlace, grace: Duration) throws(MembershipError) -> Shrunk {
        var from = place
        let survivors: ElasticSuccessor
        do {
            survivors = try Self.decideSurvivors(from: &from, store: store, grace: grace.inSeconds,
                                                 deadline: Deadline.after(seconds: timeoutSeconds))
        } catch {
            throw .wrapping(error)
        }
        guard let newRank = survivors.newRank(of: from.rank) else {
            throw .leftOut(generation: from.generation, survivors: survivors.members)
        }
        let lost = (0..<from.worldSize).filter { !survivors.members.contains($0) }
        let next = ElasticPlace(generation: from.generation + 1, rank: newRank, worldSize: survivors.worldSize)
        return Shrunk(from: from, lost: lost, place: next, group: try connect(next))
    }

    /// Follows `place` to the newest generation decided, marks it alive there, and returns that
    /// generation's shrunk successor (deciding it if this rank is first).
    package static func decideSurvivors(from place: inout ElasticPlace, store: any Store, grace: Double,
                                        deadline: Deadline) throws -> ElasticSuccessor {
        while true {
            try follow(&place, store: store, deadline: deadline)
            let generation = place.generation
            try store.set(Keys.alive(generation, place.rank), string: "1")
            // Wait for the others, or for the grace period to end, or for a decision.
            let graceEnd = Deadline.after(seconds: grace)
            while try aliveRanks(generation, place.worldSize, store).count < place.worldSize && !graceEnd.hasPassed
                    && !(try store.check([Keys.successor(generation)])) {
                sleepSeconds(0.02)
            }
            if try store.add(Keys.next(generation), 1) == 1 {
                // Decide on the latest view: whoever marked itself alive by now is in.
                let alive = try aliveRanks(generation, place.worldSize, store)
                try JoinTickets.requeueStranded(in: store)
                let decided = ElasticSuccessor(kind: .shrunk, members: alive, worldSize: alive.count)
                try store.set(Keys.successor(generation), string: decided.encoded)
            }
            let successor = try ElasticSuccessor.wait(generation, in: store, deadline: deadline)
            // An admission decided first: shrink the grown generation instead.
            if successor.kind == .shrunk { return successor }
        }
    }

    /// Moves `place` along the successors already decided that this rank is a member of (an
    /// admission it did not finish, a shrink whose connections failed), telling ranks still
    /// connecting to each generation it moves to that it failed: they stop and shrink it too.
    static func follow(_ place: inout ElasticPlace, store: any Store, deadline: Deadline) throws {
        while let successor = try ElasticSuccessor.read(place.generation, from: store, deadline: deadline),
              let rank = successor.newRank(of: place.rank) {
            let next = place.generation + 1
            try PrefixStore(prefix: Keys.job(next), base: store)
                .set(StoreKeys.jobError, string: "rank \(place.rank) of generation \(place.generation) is shrinking generation \(next): a rank was lost while it formed")
            place = ElasticPlace(generation: next, rank: rank, worldSize: successor.worldSize)
        }
    }

    /// The ranks of generation `generation` marked alive, in order.
    static func aliveRanks(_ generation: Int, _ worldSize: Int, _ store: any Store) throws -> [Int] {
        try (0..<worldSize).filter { try store.check([Keys.alive(generation, $0)]) }
    }
}
