import Collectives
import CollectivesTestSupport
import CollectivesBootstrap
import CollectivesRendezvous
import CollectivesSystem
import CollectivesTransport
import Testing

/// Growing a job through its store (`Communicator.join`, `admitJoining`), ranks as threads
/// connected over loopback sockets.
@Suite struct ElasticMembershipTests {
    static var options: CommunicatorOptions {
        var options = CommunicatorOptions()
        options.timeoutSeconds = 30
        return options
    }

    /// Two ranks and a process joining: with no room (`maximumWorldSize` 2) nobody is
    /// admitted; with room it comes in as rank 2, the old ranks keep their numbers, and an
    /// all-reduce over the three sums every rank's number.
    @Test func aJoiningRankIsAdmittedOnlyWhenThereIsRoom() throws {
        let store = InMemoryStore()
        let options = Self.options
        let results = runRanks(3) { index -> [Int] in
            if index == 2 {
                let communicator = try Communicator.join(store: store, options: options, timeout: .seconds(30))
                defer { communicator.close() }
                var value = [Int64(communicator.rank + 1)]
                try communicator.allReduce(&value)
                return [communicator.rank, communicator.worldSize, Int(value[0])]
            }
            let communicator = try Communicator(store: store, rank: index, worldSize: 2, options: options)
            defer { communicator.close() }
            // Wait until the joiner has its ticket, but allow no more ranks.
            if try communicator.admitJoining(maximumWorldSize: 2, awaiting: 1) != nil { return [-1] }
            guard let grown = try communicator.admitJoining(maximumWorldSize: 3) else { return [-2] }
            defer { grown.close() }
            var value = [Int64(grown.rank + 1)]
            try grown.allReduce(&value)
            // Nobody else waits: the next boundary admits no one.
            if try grown.admitJoining() != nil { return [-3] }
            return [grown.rank, grown.worldSize, Int(value[0])]
        }
        let values = try results.map { try $0.get() }
        #expect(values == [[0, 3, 6], [1, 3, 6], [2, 3, 6]])
    }

    /// A joiner that gave up is not admitted later (its ticket is skipped); the one after it is.
    @Test func aTicketGivenUpIsSkipped() throws {
        #expect(try Self.admitOneAfterAGivenUpTicket(gaveUpAfter: .milliseconds(200), joinerDelay: 0) == [[0, 3], [1, 3], [2, 3]])
    }

    /// A joiner gives up waiting after `gaveUpAfter`; then two ranks wait for one joiner
    /// (`awaiting: 1`) and admit it, while another joiner comes `joinerDelay` seconds after they
    /// start. Every rank's number and world size afterwards.
    static func admitOneAfterAGivenUpTicket(gaveUpAfter: Duration, joinerDelay: Double) throws -> [[Int]] {
        let store = InMemoryStore()
        let options = Self.options
        #expect(throws: CollectivesError.self) { _ = try Communicator.join(store: store, options: options, timeout: gaveUpAfter) }
        let results = runRanks(3) { index -> [Int] in
            if index == 2 {
                if joinerDelay > 0 { sleepSeconds(joinerDelay) }
                let communicator = try Communicator.join(store: store, options: options, timeout: .seconds(30))
                defer { communicator.close() }
                return [communicator.rank, communicator.worldSize]
            }
            let communicator = try Communicator(store: store, rank: index, worldSize: 2, options: options)
            defer { communicator.close() }
            guard let grown = try communicator.admitJoining(maximumWorldSize: 4, awaiting: 1) else { return [-1] }
            defer { grown.close() }
            return [grown.rank, grown.worldSize]
        }
        return try results.map { try $0.get() }
    }

    /// An admission that fails (the process admitted never connects): the ranks then shrink the
    /// communicator they had, which shrinks the grown generation the store says was decided, and
    /// the joiner that never came (rank 2 there) counts as lost.
    @Test func aFailedAdmissionIsFollowedByAWorkingShrink() throws {
        let store = InMemoryStore()
        let options = { var options = Self.options; options.timeoutSeconds = 2; return options }()
        // A ticket whose process is gone (after writing its settings, as joiners do).
        _ = try store.add("elastic/join/tickets", 1)
        try store.set(StoreKeys.Elastic.settings(ticket: 1), string: "{}")
        let results = runRanks(2) { rank -> [Int] in
            let communicator = try Communicator(store: store, rank: rank, worldSize: 2, options: options)
            defer { communicator.close() }
            do {
                _ = try communicator.admitJoining(maximumWorldSize: 3)
                return [-1]
            } catch let error as CollectivesError {
                guard error.kind == .timedOut || error.kind == .rendezvous else { return [-2] }
            }
            let (next, lost) = try communicator.shrink(grace: .seconds(1))
            defer { next.close() }
            var value = [Int64(next.rank + 1)]
            try next.allReduce(&value)
            return [next.rank, next.worldSize] + lost + [Int(value[0])]
        }
        #expect(try results.map { try $0.get() } == [[0, 2, 2, 3], [1, 2, 2, 3]])
    }

    /// The documented recovery after a grown communicator fails: abort it, let it go, shrink
    /// the one it was grown from. Rank 0 serves the store (as under torchrun); the grown
    /// communicator shares the store's connection and server with the old one, so its `deinit`
    /// does not close them under the survivor (it did: the shrink then failed on every rank).
    @Test func aDroppedGrownCommunicatorLeavesTheStoreToTheOldOne() throws {
        let port = try freeLoopbackPort()
        let options = Self.options
        let results = runRanks(3) { index -> [Int] in
            if index == 2 {
                let address = SocketAddress.loopback(port: port)
                let store = try TCPStore(connectingTo: address, deadline: .after(seconds: 30))
                defer { store.close() }
                let joined = try Communicator.join(store: store, options: options, timeout: .seconds(30))
                joined.abort()
                joined.close()
                return [joined.worldSize]
            }
            let configuration = LaunchConfiguration(rank: index, worldSize: 2, masterAddress: "127.0.0.1", masterPort: port, timeoutSeconds: 30)
            let communicator = try Communicator(configuration: configuration, options: options)
            defer { communicator.close() }
            do {
                guard let grown = try communicator.admitJoining(maximumWorldSize: 3, awaiting: 1) else { return [-1] }
                #expect(grown.worldSize == 3)
                grown.abort()
            }
            // The grown communicator is gone (its deinit ran); the store must still answer.
            let (next, lost) = try communicator.shrink(grace: .seconds(2))
            defer { next.close() }
            var value = [Int64(next.rank + 1)]
            try next.allReduce(&value)
            return [next.rank, next.worldSize] + lost + [Int(value[0])]
        }
        // The shrink is of the grown generation (the store says it was decided): the joiner,
        // which let go without marking itself alive, is its lost rank 2.
        #expect(try results.map { try $0.get() } == [[0, 2, 2, 3], [1, 2, 2, 3], [3]])
    }

    /// A failed admission must not split the job, at the store: rank 0 decided an admission
    /// (one ticket, 4 ranks growing to 5); ranks 0 and 1 learned it, rank 3 did not (its relay, rank 2, died) and
    /// shrinks the generation it had. All three must agree on one survivor set. (Before, each
    /// shrank under the prefix of its own local generation: rank 3 alone, 0 and 1 as a pair.)
    @Test func ranksThatDidAndDidNotSeeAnAdmissionShrinkTheSameGeneration() throws {
        let store = InMemoryStore()
        _ = try store.add(StoreKeys.Elastic.tickets, 1)
        try store.set(StoreKeys.Elastic.settings(ticket: 1), string: "{}")
        let admitted = try JoinTickets.admit(generation: 0, worldSize: 4, room: .max, awaiting: 0, waitSeconds: 1, store: store)
        #expect(admitted == 1)
        let places = [ElasticPlace(generation: 1, rank: 0, worldSize: 5), ElasticPlace(generation: 1, rank: 1, worldSize: 5),
                      ElasticPlace(generation: 0, rank: 3, worldSize: 4)]
        let results = runRanks(3) { index -> [Int] in
            var place = places[index]
            let survivors = try Membership.decideSurvivors(from: &place, store: store, grace: 2, deadline: .after(seconds: 30))
            return [place.generation, survivors.worldSize] + survivors.members
        }
        // Every survivor shrank generation 1 (the grown one) to ranks 0, 1, 3 of it.
        #expect(try results.map { try $0.get() } == [[1, 3, 0, 1, 3], [1, 3, 0, 1, 3], [1, 3, 0, 1, 3]])
        // Ranks still connecting to generation 1 were told to stop.
        #expect(try store.check([StoreKeys.Elastic.job(1) + "/" + StoreKeys.jobError]))
    }

    /// A joiner that gave up does not count as waiting, so
    /// `awaiting: 1` waits for one that still waits (before, it returned at once, admitting
    /// nobody). The second joiner comes a second after the ranks start waiting.
    @Test func aGivenUpTicketDoesNotCountAsAwaited() throws {
        #expect(try Self.admitOneAfterAGivenUpTicket(gaveUpAfter: .milliseconds(100), joinerDelay: 1) == [[0, 3], [1, 3], [2, 3]])
    }

    /// A ticket claimed by an admission that never finished (its rank 0
    /// claimed it and was lost) is handed back when the survivors shrink, and its joiner takes a
    /// new ticket and is admitted at the next boundary, long before its own timeout (before, it
    /// waited out the whole timeout).
    @Test func aTicketOfAFailedAdmissionIsHandedBack() throws {
        let store = InMemoryStore()
        let options = Self.options
        let started = Deadline.now
        let results = runRanks(3) { index -> [Int] in
            if index == 2 {
                let communicator = try Communicator.join(store: store, options: options, timeout: .seconds(60))
                defer { communicator.close() }
                return [communicator.rank, communicator.worldSize]
            }
            let communicator = try Communicator(store: store, rank: index, worldSize: 2, options: options)
            defer { communicator.close() }
            if index == 0 {
                // An admission that claims the joiner's ticket and is lost before deciding.
                while try store.add(StoreKeys.Elastic.tickets, 0) < 1 { sleepSeconds(0.01) }
                #expect(try store.add(StoreKeys.Elastic.claim(ticket: 1), 1) == 1)
            }
            var flag = [Int32(0)]
            try communicator.allReduce(&flag)
            let (next, lost) = try communicator.shrink(grace: .seconds(5))
            defer { next.close() }
            #expect(lost.isEmpty)
            guard let grown = try next.admitJoining(maximumWorldSize: 3, awaiting: 1) else { return [-1] }
            defer { grown.close() }
            return [grown.rank, grown.worldSize]
        }
        #expect(try results.map { try $0.get() } == [[0, 3], [1, 3], [2, 3]])
        let seconds = Double(Deadline.now.uptimeNanoseconds - started.uptimeNanoseconds) / 1e9
        #expect(seconds < 30, "took \(seconds) s")
    }

    /// A process joining with settings other than the job's is refused,
    /// its error naming the setting, and not admitted; one with the job's settings is.
    @Test func aJoinerWithOtherSettingsIsRefused() throws {
        let store = InMemoryStore()
        let options = Self.options
        let job = ["--seed": "1", "--epochs": "4"]
        let results = runRanks(4) { index -> [String] in
            if index == 2 {
                do {
                    _ = try Communicator.join(store: store, options: options, timeout: .seconds(30), settings: ["--seed": "7", "--epochs": "4"])
                    return ["admitted"]
                } catch let error as CollectivesError {
                    guard let difference = error.differingSetting, error.kind == .configuration else { return ["\(error)"] }
                    return [difference.name, difference.job ?? "-", difference.joiner ?? "-"]
                }
            }
            if index == 3 {
                // The second joiner comes once the first is refused.
                while !(try store.check([StoreKeys.Elastic.admission(ticket: 1)])) { sleepSeconds(0.01) }
                let communicator = try Communicator.join(store: store, options: options, timeout: .seconds(30), settings: job)
                defer { communicator.close() }
                return ["\(communicator.rank)", "\(communicator.worldSize)"]
            }
            let communicator = try Communicator(store: store, rank: index, worldSize: 2, options: options)
            defer { communicator.close() }
            guard let grown = try communicator.admitJoining(maximumWorldSize: 4, awaiting: 1, settings: job) else { return ["nil"] }
            defer { grown.close() }
            return ["\(grown.rank)", "\(grown.worldSize)"]
        }
        #expect(try results.map { try $0.get() } == [["0", "3"], ["1", "3"], ["--seed", "1", "7"], ["2", "3"]])
    }

    /// A process that is never admitted gives up at its timeout, saying why.
    @Test func aJoinerNobodyAdmitsTimesOut() {
        let store = InMemoryStore()
        do {
            _ = try Communicator.join(store: store, options: Self.options, timeout: .milliseconds(300))
            Issue.record("joined with nobody admitting it")
        } catch {
            #expect(error.kind == .timedOut)
            #expect(error.description.contains("ticket 1 was not admitted within 0.3 s"), "\(error)")
        }
    }

    @Test func admittingNeedsTheStore() {
        let communicator = Communicator(transport: SingleRankTransport())
        defer { communicator.close() }
        #expect(throws: CollectivesError.self) { _ = try communicator.admitJoining() }
        do {
            _ = try communicator.admitJoining()
        } catch {
            #expect(error.kind == .invalidArgument && error.description.contains("needs the rendezvous store"), "\(error)")
        }
    }
}
