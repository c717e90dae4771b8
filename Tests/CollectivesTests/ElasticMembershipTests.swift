import Collectives
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
        let store = InMemoryStore()
        let options = Self.options
        #expect(throws: CollectivesError.self) { _ = try Communicator.join(store: store, options: options, timeout: .milliseconds(200)) }
        let results = runRanks(3) { index -> [Int] in
            if index == 2 {
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
        #expect(try results.map { try $0.get() } == [[0, 3], [1, 3], [2, 3]])
    }

    /// An admission that fails (the process admitted never connects) uses up its generation:
    /// the ranks then shrink the communicator they had, and the smaller one works.
    @Test func aFailedAdmissionIsFollowedByAWorkingShrink() throws {
        let store = InMemoryStore()
        let options = { var options = Self.options; options.timeoutSeconds = 2; return options }()
        // A ticket whose process is gone.
        _ = try store.add("elastic/join/tickets", 1)
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
            return [next.rank, next.worldSize, lost.count, Int(value[0])]
        }
        #expect(try results.map { try $0.get() } == [[0, 2, 0, 3], [1, 2, 0, 3]])
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
            return [next.rank, next.worldSize, lost.count, Int(value[0])]
        }
        #expect(try results.map { try $0.get() } == [[0, 2, 0, 3], [1, 2, 0, 3], [3]])
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
