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
    /// something failed, and call `shrink` too); each rank marks itself alive in the store; the
    /// first rank to finish waiting (until every rank is marked, or `grace` passes) writes the
    /// list of the living, which every rank reads; they are renumbered in their old order and
    /// connect afresh. Returns the new communicator and the lost ranks (this communicator's
    /// numbering). A rank that marks itself alive after the list was written is told it was
    /// left out.
    ///
    /// The store must outlive the lost ranks: `collectives-run` serves it itself
    /// (`COLLECTIVES_STORE=external`); a store served by rank 0 is lost with rank 0. Close this
    /// communicator after the new one is made.
    public func shrink(grace: Duration = .seconds(3)) throws(CollectivesError) -> (communicator: Communicator, lost: [Int]) {
        // Each attempt uses up a generation of store keys, even one that fails.
        let generation = elasticGeneration + 1
        let operation = "shrink (generation \(generation))"
        guard let bootstrapped, let store = elasticStore else {
            throw CollectivesError(.invalidArgument, rank: rank, operation: operation,
                                   reason: "shrinking needs the rendezvous store: make the communicator from the environment or from a store")
        }
        abort()
        elasticGeneration = generation
        let prefix = "elastic/\(generation)"
        let deadline = Deadline.after(seconds: options.timeoutSeconds)
        let graceSeconds = grace.inSeconds
        let survivors: [Int]
        do {
            try store.set("\(prefix)/alive/\(rank)", string: "1")
            // Wait for the others, or for the grace period to end.
            let graceEnd = Deadline.after(seconds: graceSeconds)
            var alive: [Int] = []
            while true {
                alive = []
                for peer in 0..<worldSize where try store.check(["\(prefix)/alive/\(peer)"]) { alive.append(peer) }
                if alive.count == worldSize || graceEnd.hasPassed { break }
                sleepSeconds(0.02)
            }
            if try store.add("\(prefix)/decider", 1) == 1 {
                // Decide on the latest view: whoever marked itself alive by now is in.
                alive = []
                for peer in 0..<worldSize where try store.check(["\(prefix)/alive/\(peer)"]) { alive.append(peer) }
                try store.set("\(prefix)/survivors", string: alive.map(String.init).joined(separator: ","))
            }
            let text = try store.getString("\(prefix)/survivors", deadline: deadline)
            survivors = text.split(separator: ",").compactMap { Int($0) }
        } catch {
            throw CollectivesError(error, rank: rank, operation: operation)
        }
        guard let newRank = survivors.firstIndex(of: rank) else {
            throw CollectivesError(.rendezvous, rank: rank, operation: operation,
                                   reason: "the surviving ranks \(survivors) were decided before this rank arrived: it was left out")
        }
        let lost = (0..<worldSize).filter { !survivors.contains($0) }
        logger.info("rank \(rank): lost ranks \(lost); going on as rank \(newRank) of \(survivors.count)")
        let next = try Self.connect(store: store, generation: generation, rank: newRank, worldSize: survivors.count,
                                    options: options, operation: operation)
        bootstrapped.shareStore(with: next)
        let communicator = Communicator(transport: next.transport, options: options, bootstrapped: next)
        communicator.elasticGeneration = generation
        communicator.elasticStoreOverride = store
        return (communicator, lost)
    }
}
