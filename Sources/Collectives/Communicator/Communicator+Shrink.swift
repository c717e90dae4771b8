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
    /// the list was written is told it was left out. The membership layer
    /// (`CollectivesBootstrap/Membership`) does the work; this call wraps it.
    ///
    /// The store must outlive the lost ranks: `collectives-run` serves it itself
    /// (`COLLECTIVES_STORE=external`); a store served by rank 0 is lost with rank 0. Close this
    /// communicator after the new one is made.
    public func shrink(grace: Duration = .seconds(3)) throws(CollectivesError) -> (communicator: Communicator, lost: [Int]) {
        let place = elasticPlace
        let membership = try membership(for: "shrink (generation \(place.generation))")
        abort()
        let shrunk: Membership.Shrunk
        do {
            shrunk = try membership.shrink(place, grace: grace)
        } catch {
            throw CollectivesError(error, rank: rank, operation: "shrink (generation \(place.generation))")
        }
        logger.info("rank \(rank): lost ranks \(shrunk.lost) of generation \(shrunk.from.generation); going on as rank \(shrunk.place.rank) of \(shrunk.place.worldSize) (generation \(shrunk.place.generation))")
        return (successor(at: shrunk.place, group: shrunk.group, store: membership.store), shrunk.lost)
    }
}
