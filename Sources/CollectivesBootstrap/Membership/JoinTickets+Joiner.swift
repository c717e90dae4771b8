import CollectivesRendezvous
import CollectivesSystem
import FoundationEssentials

private typealias Keys = StoreKeys.Elastic

/// A joining process's side of the tickets.
extension JoinTickets {
    /// A joiner's wait: takes a ticket and waits for its admission until `deadline` (then gives
    /// the ticket up, unless rank 0 claimed it first: its admission is then on the way and is
    /// waited for `connectSeconds` more). Returns the ticket and where it was admitted, or nil
    /// when it was handed back (take a new one).
    static func awaitAdmission(store: any Store, settings: [String: String], deadline: Deadline, seconds: Double,
                               connectSeconds: Double) throws(MembershipError) -> (Int64, ElasticPlace?) {
        let ticket: Int64
        var text: String?
        var gaveUp = false
        do {
            ticket = try store.add(Keys.tickets, 1)
            let encoded = (try? JSONEncoder().encode(settings)).map { String(decoding: $0, as: UTF8.self) } ?? "{}"
            try store.set(Keys.settings(ticket: ticket), string: encoded)
            do {
                text = try store.getString(Keys.admission(ticket: ticket), deadline: deadline)
            } catch .timedOut {
                // Give the ticket up, unless rank 0 claimed it first: then its admission is on the way.
                gaveUp = try store.add(Keys.claim(ticket: ticket), 1) == 1
                if !gaveUp {
                    text = try store.getString(Keys.admission(ticket: ticket), deadline: Deadline.after(seconds: connectSeconds))
                }
            }
        } catch {
            throw .store(error)
        }
        guard let text, !gaveUp else { throw .notAdmitted(ticket: ticket, waitedSeconds: seconds) }
        if text == Keys.requeue { return (ticket, nil) }
        if let difference = refusal(text) { throw .refused(ticket: ticket, difference) }
        let fields = text.split(separator: ",").compactMap { Int($0) }
        guard fields.count == 3 else { throw .malformedAdmission(ticket: ticket, text: text) }
        return (ticket, ElasticPlace(generation: fields[0], rank: fields[1], worldSize: fields[2]))
    }
}
