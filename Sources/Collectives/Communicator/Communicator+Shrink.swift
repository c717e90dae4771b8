import CollectivesBootstrap
import CollectivesRendezvous
import CollectivesSystem

/// Going on without lost ranks (elastic training, torchrun's and Horovod's elastic modes).
extension Communicator {
    /// After this communicator failed because ranks were lost (a peer died or hung), makes a new,
    /// smaller communicator of the ranks still alive, through the same rendezvous store. Every
    /// surviving rank calls it; none needs to know beforehand which ranks were lost.
    ///
    /// Steps: this communicator is aborted (so ranks still waiting on it learn at once that
    /// something failed, and call `shrink` too); the rank follows the generations the store says
    /// were decided since this communicator's (an admission of joining ranks that failed on some
    /// ranks and not others: every survivor then shrinks the grown generation, under its number
    /// there, and ranks still connecting to it are told to stop); it marks itself alive in that
    /// generation; the first rank to finish waiting (until every rank is marked, or `grace`
    /// passes) writes the list of the living as the generation's successor, which every rank
    /// reads; they are renumbered in their old order and connect afresh. Returns the new
    /// communicator and the lost ranks, numbered in the generation shrunk (this communicator's
    /// unless an admission had been decided: then joining ranks that never came count as lost,
    /// numbered from this communicator's world size on). A rank that marks itself alive after
    /// the list was written is told it was left out.
    ///
    /// The store must outlive the lost ranks: `collectives-run` serves it itself
    /// (`COLLECTIVES_STORE=external`); a store served by rank 0 is lost with rank 0. Close this
    /// communicator after the new one is made.
    public func shrink(grace: Duration = .seconds(3)) throws(CollectivesError) -> (communicator: Communicator, lost: [Int]) {
        var place = ElasticPlace(generation: elasticGeneration, rank: rank, worldSize: worldSize)
        let operation = "shrink (generation \(place.generation))"
        guard let bootstrapped, let store = elasticStore else {
            throw CollectivesError(.invalidArgument, rank: rank, operation: operation,
                                   reason: "shrinking needs the rendezvous store: make the communicator from the environment or from a store")
        }
        abort()
        let deadline = Deadline.after(seconds: options.timeoutSeconds)
        let survivors: ElasticSuccessor
        do {
            survivors = try Self.decideSurvivors(from: &place, store: store, grace: grace.inSeconds, deadline: deadline)
        } catch {
            throw CollectivesError.elastic(error, rank: rank, operation: "shrink (generation \(place.generation))")
        }
        guard let newRank = survivors.newRank(of: place.rank) else {
            throw CollectivesError(.rendezvous, rank: rank, operation: "shrink (generation \(place.generation))",
                                   reason: "the surviving ranks \(survivors.members) were decided before this rank arrived: it was left out")
        }
        let lost = (0..<place.worldSize).filter { !survivors.members.contains($0) }
        let generation = place.generation + 1
        logger.info("rank \(rank): lost ranks \(lost) of generation \(place.generation); going on as rank \(newRank) of \(survivors.worldSize) (generation \(generation))")
        let next = try Self.connect(store: store, generation: generation, rank: newRank, worldSize: survivors.worldSize,
                                    options: options, operation: "shrink (generation \(generation))")
        bootstrapped.shareStore(with: next)
        let communicator = Communicator(transport: next.transport, options: options, bootstrapped: next)
        communicator.elasticGeneration = generation
        communicator.elasticStoreOverride = store
        return (communicator, lost)
    }

    /// Follows `place` to the newest generation decided, marks it alive there, and returns that
    /// generation's shrunk successor (deciding it if this rank is first).
    package static func decideSurvivors(from place: inout ElasticPlace, store: any Store, grace: Double,
                                deadline: Deadline) throws -> ElasticSuccessor {
        while true {
            try follow(&place, store: store, deadline: deadline)
            let generation = place.generation
            try store.set(ElasticKeys.alive(generation, place.rank), string: "1")
            // Wait for the others, or for the grace period to end, or for a decision.
            let graceEnd = Deadline.after(seconds: grace)
            while try aliveRanks(generation, place.worldSize, store).count < place.worldSize && !graceEnd.hasPassed
                    && !(try store.check([ElasticKeys.successor(generation)])) {
                sleepSeconds(0.02)
            }
            if try store.add(ElasticKeys.next(generation), 1) == 1 {
                // Decide on the latest view: whoever marked itself alive by now is in.
                let alive = try aliveRanks(generation, place.worldSize, store)
                try JoinTickets.requeueStranded(in: store)
                let decided = ElasticSuccessor(kind: .shrunk, members: alive, worldSize: alive.count)
                try store.set(ElasticKeys.successor(generation), string: decided.encoded)
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
            try PrefixStore(prefix: ElasticKeys.job(next), base: store)
                .set("job/error", string: "rank \(place.rank) of generation \(place.generation) is shrinking generation \(next): a rank was lost while it formed")
            place = ElasticPlace(generation: next, rank: rank, worldSize: successor.worldSize)
        }
    }

    /// The ranks of generation `generation` marked alive, in order.
    static func aliveRanks(_ generation: Int, _ worldSize: Int, _ store: any Store) throws -> [Int] {
        try (0..<worldSize).filter { try store.check([ElasticKeys.alive(generation, $0)]) }
    }
}

/// A rank's generation, its number there and that generation's world size.
package struct ElasticPlace: Sendable {
    package var generation: Int
    package var rank: Int
    package var worldSize: Int

    package init(generation: Int, rank: Int, worldSize: Int) {
        self.generation = generation
        self.rank = rank
        self.worldSize = worldSize
    }
}
