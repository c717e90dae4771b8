/// Reads the flight-recorder dumps of a job's ranks and says, per communicator, which rank is
/// behind, on which call, and what the others are waiting for (`collectives-run --analyze DIR`).
package struct FlightAnalysis: Sendable {
    /// One communicator's verdict.
    package struct Verdict: Sendable {
        package var communicator: Int
        package var worldSize: Int
        /// The call furthest along on any rank.
        package var furthest: FlightRecord?
        /// Ranks whose last call comes before ``furthest``.
        package var behind: [Int]
        /// Ranks that had not finished ``furthest`` (running or failed in it).
        package var stuckIn: [Int]
        /// Ranks of the communicator without a dump.
        package var missing: [Int]
        /// Calls with the same number that differ between ranks.
        package var mismatches: [String]
        package var lines: [String]
    }

    package let verdicts: [Verdict]

    package init(_ dumps: [FlightDump]) {
        let groups = Dictionary(grouping: dumps, by: \.communicator)
        verdicts = groups.keys.sorted().map { Self.judge(groups[$0]!) }
    }

    /// Every verdict's lines.
    package var report: [String] { verdicts.flatMap(\.lines) }

    private static func judge(_ dumps: [FlightDump]) -> Verdict {
        let worldSize = dumps.map(\.worldSize).max() ?? 0
        let byRank = Dictionary(dumps.map { ($0.rank, $0) }, uniquingKeysWith: { first, _ in first })
        let missing = (0..<worldSize).filter { byRank[$0] == nil }
        let last = byRank.mapValues { $0.calls.max { $0.sequence < $1.sequence } }
        let furthest = last.values.compactMap { $0 }.max { $0.sequence < $1.sequence }
        let ranks = byRank.keys.sorted()
        let behind = ranks.filter { rank in (last[rank]??.sequence ?? 0) < (furthest?.sequence ?? 0) }
        let stuckIn = ranks.filter { rank in
            guard let call = last[rank] ?? nil, let furthest else { return false }
            return call.sequence == furthest.sequence && call.state != .done
        }
        let mismatches = findMismatches(byRank)
        var lines = ["communicator \(dumps.first!.communicator) (\(worldSize) ranks, dumps from \(ranks.count)):"]
        for text in mismatches { lines.append("  ranks called different collectives: \(text)") }
        if let furthest {
            if behind.isEmpty {
                if stuckIn.isEmpty {
                    lines.append("  every rank finished \(furthest.title): none is inside a collective of this communicator")
                } else {
                    lines.append("  every rank reached \(furthest.title); \(list(stuckIn)) had not finished it (they wait on each other: see each rank's state)")
                }
            } else {
                lines.append("  \(list(behind)) \(behind.count == 1 ? "is" : "are") behind: \(behind.count == 1 ? "it has" : "they have") not reached \(furthest.title), which \(list(ranks.filter { !behind.contains($0) })) \(ranks.count - behind.count == 1 ? "is" : "are") in")
                for rank in behind {
                    let call = last[rank] ?? nil
                    lines.append("    rank \(rank) (pid \(byRank[rank]!.pid) on \(byRank[rank]!.host)): last call " + (call.map { "\($0.title), \($0.state.rawValue)" } ?? "none"))
                }
            }
            for rank in stuckIn {
                let call = last[rank]!!
                var state = "    rank \(rank) (pid \(byRank[rank]!.pid) on \(byRank[rank]!.host)): \(call.state.rawValue)"
                if let peer = call.peer { state += ", waiting on rank \(peer)" }
                if let error = call.error { state += ": \(error)" }
                lines.append(state)
            }
        } else {
            lines.append("  no rank has made a collective call")
        }
        if !missing.isEmpty {
            lines.append("  no dump from \(list(missing)) (it ended before the dump, was not signalled, or could not write)")
        }
        return Verdict(communicator: dumps.first!.communicator, worldSize: worldSize, furthest: furthest, behind: behind,
                       stuckIn: stuckIn, missing: missing, mismatches: mismatches, lines: lines)
    }

    /// Calls with one number but another operation, type, count or root on different ranks.
    private static func findMismatches(_ byRank: [Int: FlightDump]) -> [String] {
        var seen: [UInt64: (rank: Int, call: FlightRecord)] = [:]
        var found: [String] = []
        for rank in byRank.keys.sorted() {
            for call in byRank[rank]!.calls {
                guard let first = seen[call.sequence] else {
                    seen[call.sequence] = (rank, call)
                    continue
                }
                let same = first.call.operation == call.operation && first.call.dataType == call.dataType
                    && first.call.count == call.count && first.call.root == call.root && first.call.op == call.op
                if !same { found.append("rank \(first.rank) \(first.call.title), rank \(rank) \(call.title)") }
            }
        }
        return found
    }

    private static func list(_ ranks: [Int]) -> String {
        (ranks.count == 1 ? "rank " : "ranks ") + ranks.map(String.init).joined(separator: ", ")
    }
}
