import ArgumentParser
import COpenBLAS
import Collectives
import CollectivesSystem
import CommandLineSupport
import DataParallel


/// One rank's training run: the communicator, its shard of the data and the trainer, which an
/// elastic job replaces when ranks are lost or admitted (``elasticRun``, with
/// ``regroup(on:from:after:)``), and what the epochs so far reported.
final class TrainingRun {
    let command: MNISTTrain
    /// The epochs through lost and joining ranks; it holds the communicator and the trainer.
    private(set) var elasticRun: ElasticTraining!
    var communicator: Communicator { elasticRun.communicator }
    var trainer: any DistributedTrainer { elasticRun.trainer }
    /// Pipeline stages per replica (1: data parallelism).
    var stages: Int
    var train: LabeledDataset
    var test: LabeledDataset
    /// Layer sizes, input to classes.
    let sizes: [Int]
    let options: TrainingOptions
    /// Started by `collectives-run --join`: admitted into a running job at an epoch boundary.
    let joined: Bool
    let elastic: Bool
    /// How large the job may grow (collectives-run --max); without it, nobody is admitted.
    var maximumRanks: Int?
    /// The world size the job started with, and this rank's number in it.
    let originalWorldSize: Int
    let originalRank: Int
    /// The epoch to run next.
    var epoch = 1
    /// Each current rank's name: its number in the job as it started (as the launcher names
    /// it), or the order in which it joined.
    var rankNames: [String]
    var rows: [EpochReport] = []
    var accuracies: [Double] = []

    var leader: Bool { communicator.rank == 0 }
    var parameterCount: Int { sizes.indices.dropLast().reduce(0) { $0 + sizes[$1 + 1] * sizes[$1] + sizes[$1 + 1] } }

    /// Connects, loads this rank's shard, agrees on the classes (a joiner learns them, the epoch
    /// and the job's maximum from the job's ranks) and makes the trainer.
    init(_ command: MNISTTrain) throws {
        self.command = command
        let environment = ProcessEnvironment.current()
        let communicator = try Communicator.forCommand("mnist-train", joinSettings: command.jobSettings)
        joined = environment[EnvironmentVariable.elasticJoin.name] == "1"
        elastic = command.elastic || joined || environment[EnvironmentVariable.elastic.name] == "1"
        maximumRanks = environment[EnvironmentVariable.elasticMaximum.name].flatMap { Int($0) }
        originalWorldSize = communicator.worldSize
        originalRank = communicator.rank
        rankNames = (0..<communicator.worldSize).map { "rank \($0)" }
        Self.shareCores(communicator)
        // Joiners are admitted into data-parallel training only.
        stages = joined ? 1 : command.pipelineStages
        if communicator.worldSize % stages != 0 {
            if communicator.rank == 0 {
                Console.error("mnist-train: --pipeline-stages \(stages) does not divide the \(communicator.worldSize) ranks into whole replicas")
            }
            throw ExitCode(2)
        }
        (train, test) = try Self.loadData(command, communicator, stages: stages)
        var classes = [Int32(train.labels.max() ?? 0) + 1]
        if joined {
            // What the job's ranks broadcast when they admit ranks: the epoch to go on with, the
            // number of classes and the job's maximum size.
            var header: [Int64] = [0, 0, 0]
            try communicator.broadcast(&header, root: 0)
            epoch = Int(header[0])
            classes = [Int32(header[1])]
            maximumRanks = header[2] > 0 ? Int(header[2]) : nil
        } else {
            try communicator.allReduce(&classes, op: .max)
        }
        options = command.trainingOptions
        sizes = [train.featureCount] + command.hiddenSizes! + [Int(classes[0])]
        let trainer = try Self.makeTrainer(command, sizes: sizes, options: options, communicator, stages: stages)
        if joined { try (trainer as! DataParallelTrainer).synchronizeOptimizerState() }
        let policy = ElasticPolicy(goesOnWithoutLostRanks: elastic, maximumWorldSize: maximumRanks, joinSettings: command.jobSettings)
        elasticRun = ElasticTraining(communicator: communicator, trainer: trainer, policy: policy) { [unowned self] in
            try self.regroup(on: $0, from: $1, after: $2)
        }
    }

    func close() { elasticRun.close() }

    /// Shares the cores between the local ranks instead of letting each rank's OpenBLAS start
    /// a thread per core (ranks on this host: the launcher's word, else the host identities
    /// every rank gave at rendezvous).
    static func shareCores(_ communicator: Communicator) {
        guard ProcessEnvironment.current()["OPENBLAS_NUM_THREADS"] == nil else { return }
        let cores = onlineProcessorCount
        openblas_set_num_threads(Int32(max(1, cores / max(1, communicator.localWorldSize))))
    }

    /// This rank's shard: a pipeline's stages share their replica's shard; data parallelism
    /// shards by rank.
    static func loadData(_ command: MNISTTrain, _ communicator: Communicator, stages: Int) throws -> (LabeledDataset, LabeledDataset) {
        let (shard, shards) = stages > 1
            ? (PipelineTrainer.position(rank: communicator.rank, stages: stages).replica, communicator.worldSize / stages)
            : (communicator.rank, communicator.worldSize)
        do {
            return (try LabeledDataset.mnist(directory: command.dataDirectory, split: "train", rank: shard, worldSize: shards),
                    try LabeledDataset.mnist(directory: command.dataDirectory, split: "t10k", rank: shard, worldSize: shards))
        } catch {
            Console.error("mnist-train: rank \(communicator.rank): \(error)")
            if command.dataDirectory == "/usr/share/datasets/fashion-mnist" {
                Console.error("mnist-train: install Debian's dataset-fashion-mnist, or pass --data-dir")
            }
            throw ExitCode(2)
        }
    }

    func loadData(_ communicator: Communicator, stages: Int) throws -> (LabeledDataset, LabeledDataset) {
        try Self.loadData(command, communicator, stages: stages)
    }

    static func makeTrainer(_ command: MNISTTrain, sizes: [Int], options: TrainingOptions, _ communicator: Communicator,
                            stages: Int) throws(CollectivesError) -> any DistributedTrainer {
        if stages > 1 {
            return try PipelineTrainer(layerSizes: sizes, seed: command.seed, communicator: communicator, stages: stages,
                                       microBatches: command.microBatches, schedule: PipelineSchedule(rawValue: command.schedule)!,
                                       options: options)
        }
        return try DataParallelTrainer(model: MLP(layerSizes: sizes, batchCapacity: command.batchSize, seed: command.seed),
                                       communicator: communicator, options: options)
    }

    func makeTrainer(_ communicator: Communicator, stages: Int) throws(CollectivesError) -> any DistributedTrainer {
        try Self.makeTrainer(command, sizes: sizes, options: options, communicator, stages: stages)
    }

    /// How the trainer is laid out, for the log.
    func describe(_ trainer: any DistributedTrainer) -> String {
        guard let pipeline = trainer as? PipelineTrainer else { return "data parallelism" }
        let cuts = PipelineTrainer.partition(layerSizes: sizes, stages: pipeline.stageCount)
            .map { "\(sizes[$0.lowerBound...$0.upperBound].map(String.init).joined(separator: "-"))" }.joined(separator: " | ")
        let replicas = pipeline.replicaCount
        return "a \(command.schedule) pipeline of \(pipeline.stageCount) stages (\(cuts)) × \(replicas) replica\(replicas == 1 ? "" : "s")"
    }
}

extension MNISTTrain {
    /// The trainer's settings from the command line.
    var trainingOptions: TrainingOptions {
        var options = TrainingOptions()
        options.globalBatchSize = batchSize
        options.optimizer = SGD(learningRate: learningRate, momentum: momentum, weightDecay: weightDecay)
        options.bucketCapBytes = Int(bucketMiB * 1048576)
        options.firstBucketBytes = Int(firstBucketMiB * 1048576)
        options.overlap = !noOverlap
        options.exchange = centralServer ? .centralServer : .allReduce
        options.algorithm = algorithm.flatMap { Algorithm(name: $0) }
        options.seed = seed
        options.recordTimeline = timeline != nil
        options.gradientPrecision = ["bf16", "bfloat16"].contains(gradientType) ? .bfloat16
            : ["fp16", "float16"].contains(gradientType) ? .float16 : nil
        options.errorFeedback = !noErrorFeedback
        options.accumulationSteps = accumulationSteps
        return options
    }
}
