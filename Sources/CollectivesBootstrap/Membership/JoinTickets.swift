import CollectivesRendezvous
import CollectivesSystem
import FoundationEssentials

private typealias Keys = StoreKeys.Elastic

/// Tickets of joining processes: rank 0's side of an admission, and handing back the tickets
/// of admissions that failed. (A joiner's side is ``JoinTickets/awaitAdmission(store:settings:deadline:seconds:connectSeconds:)``.)
package enum JoinTickets {
    /// Rank 0's admission at generation `generation` of `worldSize` ranks: claims the waiting
    /// tickets (at most `room`; first waiting up to `waitSeconds` until `awaiting` processes
    /// wait), decides the successor (unless a shrink of the generation decided first: then the
    /// tickets are handed back and the admission fails), writes each ticket's admission, and
    /// returns how many were admitted.
    package static func admit(generation: Int, worldSize: Int, room: Int, awaiting: Int, waitSeconds: Double,
                              settings: [String: String] = [:], store: any Store) throws(MembershipError) -> Int {
        do {
            let (claimed, examined) = try claimWaitingTickets(in: store, room: room, awaiting: awaiting, waitSeconds: waitSeconds,
                                                              settings: settings)
            guard !claimed.isEmpty else {
                if examined > 0 { _ = try store.add(Keys.examined, Int64(examined)) }
                return 0
            }
            guard try store.add(Keys.next(generation), 1) == 1 else {
                try handBack(claimed, examined: examined, in: store)
                throw MembershipError.shrinking(generation: generation)
            }
            let grown = worldSize + claimed.count
            let successor = ElasticSuccessor(kind: .admitted, members: Array(0..<worldSize), worldSize: grown, tickets: claimed)
            try store.set(Keys.successor(generation), string: successor.encoded)
            for (i, ticket) in claimed.enumerated() {
                try store.set(Keys.admission(ticket: ticket), string: "\(generation + 1),\(worldSize + i),\(grown)")
            }
            _ = try store.add(Keys.examined, Int64(examined))
            return claimed.count
        } catch {
            throw MembershipError.wrapping(error)
        }
    }

    /// Claims the waiting tickets in order, at most `room` of them, waiting up to `waitSeconds`
    /// until `awaiting` are claimed (tickets whose joiner gave up cannot be claimed, so they do
    /// not count); returns the tickets claimed and how many tickets were looked at. On a
    /// timeout the claimed tickets are handed back.
    static func claimWaitingTickets(in store: any Store, room: Int, awaiting: Int, waitSeconds: Double,
                                    settings: [String: String]) throws -> (claimed: [Int64], examined: Int) {
        let first = try store.add(Keys.examined, 0) + 1
        let wanted = Swift.min(awaiting, room)
        let deadline = Deadline.after(seconds: waitSeconds)
        var claimed: [Int64] = []
        var next = first
        while true {
            let tickets = try store.add(Keys.tickets, 0)
            while next <= tickets && claimed.count < room {
                if try store.add(Keys.claim(ticket: next), 1) == 1,
                   try acceptsSettings(of: next, jobSettings: settings, store: store, waitSeconds: waitSeconds) {
                    claimed.append(next)
                }
                next += 1
            }
            if claimed.count >= wanted { return (claimed, Int(next - first)) }
            guard !deadline.hasPassed else {
                try handBack(claimed, examined: Int(next - first), in: store)
                throw MembershipError.awaitedJoinersMissing(arrived: claimed.count, awaited: awaiting, waitedSeconds: waitSeconds)
            }
            sleepSeconds(0.02)
        }
    }

    /// Whether claimed ticket `ticket`'s settings are the job's; if not, tells its joiner so (it
    /// stops, naming the setting). A joiner writes its settings right after taking its ticket.
    static func acceptsSettings(of ticket: Int64, jobSettings: [String: String], store: any Store, waitSeconds: Double) throws -> Bool {
        let joiner = try settingsWritten(for: ticket, store: store, waitSeconds: Swift.min(waitSeconds, 2))
        guard let difference = firstDifference(job: jobSettings, joiner: joiner) else { return true }
        let encoded = String(decoding: try JSONEncoder().encode([difference.name, difference.job ?? "", difference.joiner ?? "",
                                                                  difference.job == nil ? "-" : "+", difference.joiner == nil ? "-" : "+"]),
                             as: UTF8.self)
        try store.set(Keys.admission(ticket: ticket), string: Keys.refusedPrefix + encoded)
        return false
    }

    /// The settings ticket `ticket`'s process wrote; one that wrote none within `waitSeconds` of
    /// taking it (gone, or not a joiner) or wrote something else has a setting saying so.
    static func settingsWritten(for ticket: Int64, store: any Store, waitSeconds: Double) throws(RendezvousError) -> [String: String] {
        var text: String?
        do {
            text = try store.getString(Keys.settings(ticket: ticket), deadline: Deadline.after(seconds: waitSeconds))
        } catch .timedOut {
            text = nil
        }
        guard let text else { return ["(settings)": "none written"] }
        return (try? JSONDecoder().decode([String: String].self, from: Data(text.utf8))) ?? ["(settings)": "unreadable: \(text)"]
    }

    /// The first setting, by name, that the two sides do not have alike.
    static func firstDifference(job: [String: String], joiner: [String: String]) -> SettingDifference? {
        for name in Set(job.keys).union(joiner.keys).sorted() where job[name] != joiner[name] {
            return SettingDifference(name: name, job: job[name], joiner: joiner[name])
        }
        return nil
    }

    /// The difference a refused admission carries.
    static func refusal(_ text: String) -> SettingDifference? {
        guard text.hasPrefix(Keys.refusedPrefix),
              let fields = try? JSONDecoder().decode([String].self, from: Data(text.dropFirst(Keys.refusedPrefix.count).utf8)),
              fields.count == 5 else { return nil }
        return SettingDifference(name: fields[0], job: fields[3] == "+" ? fields[1] : nil, joiner: fields[4] == "+" ? fields[2] : nil)
    }

    /// Tells the joiners of `tickets` to take new ones, and counts `examined` tickets as dealt with.
    static func handBack(_ tickets: [Int64], examined: Int, in store: any Store) throws {
        for ticket in tickets { try store.set(Keys.admission(ticket: ticket), string: Keys.requeue) }
        if examined > 0 { _ = try store.add(Keys.examined, Int64(examined)) }
    }

    /// Hands back the tickets claimed by an admission that never wrote their admissions (its
    /// rank 0 was lost on the way), so their joiners do not wait out their timeouts. Called by
    /// the rank that decides a shrink: no admission of that generation can then be decided.
    static func requeueStranded(in store: any Store) throws {
        let first = try store.add(Keys.examined, 0) + 1
        let last = try store.add(Keys.tickets, 0)
        guard first <= last else { return }
        for ticket in first...last where try store.check([Keys.claim(ticket: ticket)])
            && !(try store.check([Keys.admission(ticket: ticket)])) {
            try store.set(Keys.admission(ticket: ticket), string: Keys.requeue)
        }
    }
}
