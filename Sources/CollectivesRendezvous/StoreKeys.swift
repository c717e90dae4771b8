/// Every key the library writes to a rendezvous store, in one place: what each holds, who writes
/// it and who reads it. Nothing else in the package spells a key (a test keeps it so).
///
/// A job's keys, by layer:
///
/// | key | holds | written by | read by |
/// |---|---|---|---|
/// | `job/id` | the job's random id, decimal | rank 0 of a bootstrap | every other rank, in its TCP hellos |
/// | `job/error` | why the bootstrap cannot go on | a rank that found its rank claimed twice; a survivor shrinking a generation still forming | every rank waiting for addresses: it stops with that reason |
/// | `rank/<r>/claims` | a counter: 1 once rank *r* is claimed | the process claiming rank *r* | itself (a second claim fails the job) |
/// | `rank/<r>/address` | where rank *r* listens, `host:port` | rank *r* | every rank, to connect |
/// | `progress/<r>` | the last collective rank *r* started, decimal | rank *r*'s progress reporter, once a second | a rank that timed out, to name the ranks that never arrived |
/// | `failed/<r>` | the rank whose loss started *r*'s failure (or nothing), a newline, *r*'s error | rank *r*, as it fails | a peer that saw *r* close, to name the first rank lost |
/// | `collectives-run/node/<n>` | node *n*'s ranks per node and host name | node *n*'s launcher (`--nnodes`) | every node's launcher |
/// | `collectives-run/node/<n>/end` | `ok` or node *n*'s first failure | node *n*'s launcher | every node's launcher |
/// | `elastic/…` | elastic membership: see ``Elastic`` | ranks shrinking or admitting, joiners | the same |
///
/// Generation *g* > 0 of an elastic job bootstraps under the prefix ``Elastic/job(_:)``, so its
/// `job/…` and `rank/…` keys are `elastic/<g>/job/job/id` and so on.
package enum StoreKeys {
    /// The job's id (rank 0 writes it; the others read it for their hellos).
    package static let jobID = "job/id"
    /// Why the bootstrap of this job (or generation) cannot go on; ranks waiting for addresses
    /// stop with it.
    package static let jobError = "job/error"

    /// A counter the process taking rank `rank` adds 1 to: more than 1 means two processes claim it.
    package static func rankClaims(_ rank: Int) -> String { "rank/\(rank)/claims" }

    /// Where rank `rank` listens for its peers.
    package static func rankAddress(_ rank: Int) -> String { "rank/\(rank)/address" }

    /// The rank whose address `key` (a ``rankAddress(_:)`` key) holds, or nil for another key.
    package static func rank(ofAddressKey key: String) -> Int? {
        let parts = key.split(separator: "/")
        guard parts.count == 3, parts[0] == "rank", parts[2] == "address" else { return nil }
        return Int(parts[1])
    }

    /// The sequence number of the last collective rank `rank` started.
    package static func progress(_ rank: Int) -> String { "progress/\(rank)" }

    /// What rank `rank` recorded as it failed.
    package static func failed(_ rank: Int) -> String { "failed/\(rank)" }

    /// Where node `node`'s launcher says it arrived (ranks per node and host name).
    package static func nodeArrival(_ node: Int) -> String { "collectives-run/node/\(node)" }

    /// Where node `node`'s launcher says how its ranks ended (`ok` or the first failure).
    package static func nodeEnd(_ node: Int) -> String { "collectives-run/node/\(node)/end" }

    /// The keys of elastic membership (shrinking and growing a job), under `elastic/`.
    ///
    /// A job's communicators form a chain of generations: the launcher's is generation 0, and
    /// each generation *g* has at most one successor, *g* + 1, decided once, by whoever adds 1 to
    /// ``next(_:)`` first: rank 0 admitting joiners, or the first survivor of a shrink to finish
    /// waiting. The decision is written to ``successor(_:)`` before anyone connects under the new
    /// generation, so every rank learns it from the store, which outlives ranks, and never from a
    /// collective that may have failed on some ranks and not others. `models/membership.pml` is
    /// this protocol as a Promela model.
    package enum Elastic {
        /// Claimed once (the first `add` returns 1) by whoever decides generation `g`'s successor.
        package static func next(_ g: Int) -> String { "elastic/\(g)/next" }
        /// Generation `g`'s successor (`ElasticSuccessor`'s text: `admit;0,1,2;4;7`).
        package static func successor(_ g: Int) -> String { "elastic/\(g)/successor" }
        /// Rank `r` of generation `g` is alive and shrinking it.
        package static func alive(_ g: Int, _ r: Int) -> String { "elastic/\(g)/alive/\(r)" }
        /// The prefix of generation `g`'s bootstrap keys (`job/…`, `rank/…`).
        package static func job(_ g: Int) -> String { "elastic/\(g)/job" }

        /// Tickets taken by joining processes (a counter).
        package static let tickets = "elastic/join/tickets"
        /// Tickets dealt with so far: admitted, given up or handed back (a counter).
        package static let examined = "elastic/join/examined"
        /// Where ticket `ticket` learns its generation, rank and the grown world size
        /// (`generation,rank,worldSize`), or ``requeue``, or ``refusedPrefix`` and why.
        package static func admission(ticket: Int64) -> String { "elastic/join/admission/\(ticket)" }
        /// Claimed once, by rank 0 admitting the ticket or by its joiner giving up: whoever adds 1
        /// first wins, so a joiner that gave up is never admitted and one admitted is never lost.
        package static func claim(ticket: Int64) -> String { "elastic/join/claim/\(ticket)" }
        /// The settings ticket `ticket`'s process joins with (a JSON object of strings), which
        /// the job compares with its own.
        package static func settings(ticket: Int64) -> String { "elastic/join/settings/\(ticket)" }

        /// The admission of a ticket whose admission failed: its joiner takes a new ticket.
        package static let requeue = "requeue"
        /// The admission of a ticket refused for a setting: `refused;` and the JSON of the
        /// difference (name, job's value, joiner's value, and whether each is set).
        package static let refusedPrefix = "refused;"
    }
}
