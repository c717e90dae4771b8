import Collectives
import CollectivesRendezvous
import CollectivesTestSupport
import DataParallel
import Testing

/// `ElasticTraining` drives epochs through lost and joining ranks: ranks as threads connected
/// over loopback sockets through one in-memory store. Each epoch all-reduces every rank's
/// number as it started plus one; the oracle is that sum over the ranks alive in the epoch,
/// written out by hand.
@Suite struct ElasticTrainingTests {
    static var options: CommunicatorOptions {
        var options = CommunicatorOptions()
        options.timeoutSeconds = 30
        return options
    }

    /// What one rank saw of an epoch: its number, the world size, the all-reduced sum.
    struct Seen: Equatable, Sendable, CustomStringConvertible {
        var epoch: Int, worldSize: Int, sum: Int64
        var description: String { "epoch \(epoch): \(worldSize) ranks, sum \(sum)" }
    }

    /// A small trainer on `communicator` (its parameters are broadcast, so every rank's match).
    static func trainer(on communicator: Communicator) throws -> DataParallelTrainer {
        try DataParallelTrainer(model: MLP(layerSizes: [5, 3], batchCapacity: 4, seed: 7), communicator: communicator,
                                options: TrainingOptions())
    }

    /// Runs epochs `first...last` on `driver`, all-reducing `original + 1`; `dies(epoch)` makes
    /// this rank abort its communicator and stop at the start of that epoch, as a rank that died.
    static func train(_ driver: ElasticTraining, original: Int, from first: Int, through last: Int,
                      awaiting: @escaping (Int) -> Int? = { _ in nil }, dies: (Int) -> Bool = { _ in false }) throws -> [Seen] {
        var seen: [Seen] = []
        try driver.run(from: first, through: last, attempt: { epoch in
            if dies(epoch) {
                driver.communicator.abort()
                throw RankDied()
            }
            var value = [Int64(original + 1)]
            try driver.communicator.allReduce(&value)
            return Seen(epoch: epoch, worldSize: driver.communicator.worldSize, sum: value[0])
        }, finish: { _, epochSeen in seen.append(epochSeen) }, awaiting: awaiting)
        let (_, identical) = try driver.trainer.parameterChecksum()
        #expect(identical, "rank \(original): parameters differ between ranks")
        return seen
    }

    struct RankDied: Error {}

    /// Three ranks; rank 2 dies at the start of epoch 2. Ranks 0 and 1 shrink, regroup (the
    /// trainer moved) and run epoch 2 again on two ranks, then epoch 3.
    @Test func anEpochThatLosesARankRunsAgainOnTheSurvivors() throws {
        let store = InMemoryStore()
        let options = Self.options
        let changes = Locked<[String]>([])
        let results = runRanks(3) { rank -> [Seen] in
            let communicator = try Communicator(store: store, rank: rank, worldSize: 3, options: options)
            let policy = ElasticPolicy(shrinkGrace: .milliseconds(500))
            let driver = ElasticTraining(communicator: communicator, trainer: try Self.trainer(on: communicator), policy: policy) {
                next, trainer, change in
                if case let .shrunk(lost, cause, _, repeating) = change, next.rank == 0 {
                    changes.withLock { $0.append("lost \(lost) (\(cause)), repeating \(repeating)") }
                }
                return Regrouped(trainer: try (trainer as! DataParallelTrainer).moved(to: next))
            }
            defer { driver.close() }
            return try Self.train(driver, original: rank, from: 1, through: 3, dies: { rank == 2 && $0 == 2 })
        }
        let survivors = [Seen(epoch: 1, worldSize: 3, sum: 6), Seen(epoch: 2, worldSize: 2, sum: 3), Seen(epoch: 3, worldSize: 2, sum: 3)]
        #expect(try results[0].get() == survivors)
        #expect(try results[1].get() == survivors)
        #expect(throws: RankDied.self) { try results[2].get() }
        let said = changes.withLock { $0 }
        #expect(said.count == 1 && said[0].hasPrefix("lost [2] (") && said[0].hasSuffix("repeating true"), "\(said)")
    }

    /// A job that does not go on without lost ranks does not shrink after a failed admission
    /// either: two ranks wait for a joiner that never comes (rank 0 times out, rank 1 hears it
    /// failed), and both stop with the error instead of regrouping.
    @Test func aJobThatDoesNotGoOnStopsAfterAFailedAdmission() throws {
        let store = InMemoryStore()
        let options = { var options = Self.options; options.timeoutSeconds = 2; return options }()
        let regrouped = Locked<Int>(0)
        let results = runRanks(2) { rank -> [Seen] in
            let communicator = try Communicator(store: store, rank: rank, worldSize: 2, options: options)
            let policy = ElasticPolicy(goesOnWithoutLostRanks: false, maximumWorldSize: 3)
            let driver = ElasticTraining(communicator: communicator, trainer: try Self.trainer(on: communicator), policy: policy) {
                _, trainer, _ in
                regrouped.withLock { $0 += 1 }
                return Regrouped(trainer: trainer)
            }
            defer { driver.close() }
            return try Self.train(driver, original: rank, from: 1, through: 2, awaiting: { _ in 1 })
        }
        for (rank, result) in results.enumerated() {
            #expect(throws: CollectivesError.self, "rank \(rank)") { try result.get() }
        }
        #expect(regrouped.withLock { $0 } == 0)
    }

    /// Two ranks and a process that joins: the job waits for it after epoch 1, admits it,
    /// tells it the epoch to go on with (in `regroup`), and all three run epochs 2 and 3.
    @Test func aJoinerIsAdmittedBetweenEpochs() throws {
        let store = InMemoryStore()
        let options = Self.options
        let results = runRanks(3) { index -> [Seen] in
            let regroup: ElasticTraining.Regroup = { next, trainer, change in
                guard case let .grown(joined, finished) = change else { return Regrouped(trainer: trainer) }
                #expect(joined == 1)
                var header = [Int64(finished + 1)]
                try next.broadcast(&header, root: 0)
                return Regrouped(trainer: try (trainer as! DataParallelTrainer).moved(to: next))
            }
            let policy = ElasticPolicy(maximumWorldSize: 3)
            if index == 2 {
                let communicator = try Communicator.join(store: store, options: options, timeout: .seconds(30))
                var header: [Int64] = [0]
                try communicator.broadcast(&header, root: 0)
                let trainer = try Self.trainer(on: communicator)
                try trainer.synchronizeOptimizerState()
                let driver = ElasticTraining(communicator: communicator, trainer: trainer, policy: policy, regroup: regroup)
                defer { driver.close() }
                return try Self.train(driver, original: 2, from: Int(header[0]), through: 3, awaiting: { $0 == 1 ? 1 : 0 })
            }
            let communicator = try Communicator(store: store, rank: index, worldSize: 2, options: options)
            let driver = ElasticTraining(communicator: communicator, trainer: try Self.trainer(on: communicator), policy: policy,
                                         regroup: regroup)
            defer { driver.close() }
            return try Self.train(driver, original: index, from: 1, through: 3, awaiting: { $0 == 1 ? 1 : 0 })
        }
        let grown = [Seen(epoch: 2, worldSize: 3, sum: 6), Seen(epoch: 3, worldSize: 3, sum: 6)]
        #expect(try results[0].get() == [Seen(epoch: 1, worldSize: 2, sum: 3)] + grown)
        #expect(try results[1].get() == [Seen(epoch: 1, worldSize: 2, sum: 3)] + grown)
        #expect(try results[2].get() == grown)
    }
}
