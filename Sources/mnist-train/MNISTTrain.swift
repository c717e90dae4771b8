import ArgumentParser
import COpenBLAS
import Collectives
import CollectivesSystem
import CommandLineSupport
import DataParallel

#if canImport(Glibc)
import Glibc
#endif

/// The demo: data-parallel training of an MLP on Fashion-MNIST (or any MNIST-format data),
/// every rank computing gradients on its shard and all-reducing them.
@main
struct MNISTTrain: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "mnist-train",
        abstract: "Data-parallel MLP training on MNIST-format data, gradients all-reduced between ranks.",
        discussion: """
        Run it under a launcher: collectives-run -n 4 mnist-train. Every rank reads only its \
        shard of the data; rank 0 prints a line per epoch.
        """,
        version: collectivesVersion)

    @Option(help: "Passes over the training data.")
    var epochs = 10

    @Option(name: .customLong("batch-size"), help: "Examples per step over all ranks together.")
    var batchSize = TrainingOptions().globalBatchSize

    @Option(name: .customLong("learning-rate"), help: "SGD learning rate.")
    var learningRate = TrainingOptions().optimizer.learningRate

    @Option(name: .customLong("lr-schedule"), help: "Learning rate over the epochs: cosine (decays to 0) or constant.")
    var learningRateSchedule = "cosine"

    @Option(help: "SGD momentum.")
    var momentum = TrainingOptions().optimizer.momentum

    @Option(name: .customLong("weight-decay"), help: "L2 weight decay.")
    var weightDecay = TrainingOptions().optimizer.weightDecay

    @Option(help: "Hidden layer sizes, comma-separated.")
    var hidden = "256,128"

    @Option(name: .customLong("bucket-mib"), help: "Cap of the gradient buckets after the first, in MiB.")
    var bucketMiB = Double(TrainingOptions().bucketCapBytes) / 1048576

    @Option(name: .customLong("first-bucket-mib"), help: "Cap of the first gradient bucket, in MiB.")
    var firstBucketMiB = Double(TrainingOptions().firstBucketBytes) / 1048576

    @Option(help: "All-reduce algorithm for the gradients: auto, ring, tree, recursive-doubling or central (default: COLLECTIVES_ALGORITHM, else auto).")
    var algorithm: String?

    @Flag(name: .customLong("no-overlap"), help: "All-reduce the gradients after backward instead of during it.")
    var noOverlap = false

    @Flag(name: .customLong("central-server"), help: "Reduce gradients to rank 0 and broadcast parameters from it (the parameter-server baseline).")
    var centralServer = false

    @Option(help: "Seed of the initial parameters and of the example order.")
    var seed = TrainingOptions().seed

    @Option(name: .customLong("data-dir"), help: "Directory with train-/t10k- images and labels in IDX format (.gz or raw).")
    var dataDirectory = "/usr/share/datasets/fashion-mnist"

    @Option(help: "Write a Chrome trace (forward, backward, each bucket's all-reduce, per rank) to this file.")
    var timeline: String?

    @Option(help: "Write one CSV row per epoch to this file, and an SVG plot beside it.")
    var metrics: String?

    @Option(name: .customLong("steps-per-epoch"), help: "Stop each epoch after this many steps (for quick runs).")
    var stepsPerEpoch: Int?

    @Option(name: .customLong("gradient-type"), help: "Type the gradients are all-reduced in: float32, bf16 or fp16 (half the bytes).")
    var gradientType = "float32"

    @Flag(name: .customLong("no-error-feedback"), help: "With bf16 or fp16 gradients: drop each rank's rounding error instead of carrying it to the next step.")
    var noErrorFeedback = false

    @Option(help: "Write a checkpoint (parameters, optimizer state, CRC-32) into this directory after every epoch, atomically.")
    var checkpoint: String?

    @Flag(help: "Continue from --checkpoint's checkpoint, if there is one, to --epochs (bit-identical to an uninterrupted run with float32 gradients and a fixed --algorithm).")
    var resume = false

    @Flag(help: "Go on without ranks that die (also set by collectives-run --elastic, as COLLECTIVES_ELASTIC=1): the survivors shrink the communicator, re-shard the data and repeat the epoch.")
    var elastic = false

    @Option(name: .customLong("kill-rank"), help: .hidden)
    var killRank: Int?

    @Option(name: .customLong("kill-at-epoch"), help: .hidden)
    var killAtEpoch = 2

    /// Tests: each rank appends `epoch E: i,j,…` (the examples it trained on) to
    /// DIR/examples-PID.txt after every epoch it completes (not one it repeats after a loss).
    @Option(name: .customLong("record-examples"), help: .hidden)
    var recordExamples: String?

    @Option(name: .customLong("await-join-after-epoch"), help: .hidden)
    var awaitJoinAfterEpoch: Int?

    @Option(name: .customLong("pipeline-stages"), help: "Cut the model's layers into this many pipeline stages, one per rank; the ranks form replicas of the pipeline (ranks / stages), which all-reduce each stage's gradients.")
    var pipelineStages = 1

    @Option(name: .customLong("micro-batches"), help: "With --pipeline-stages: micro-batches per replica's part of a global batch.")
    var microBatches = 4

    @Option(help: "With --pipeline-stages: the pipeline schedule, 1f1b (one forward, one backward) or gpipe (all forwards, then all backwards).")
    var schedule = PipelineSchedule.oneForwardOneBackward.rawValue

    @Option(name: .customLong("accumulation-steps"), help: "Gradient accumulation: run each rank's part of a global batch as this many micro-steps, all-reducing once.")
    var accumulationSteps = 1

    @Option(name: .customLong("stop-after-epoch"), help: "Stop after this epoch, as if interrupted (with --checkpoint: continue later with --resume and the same --epochs, which the learning-rate schedule depends on).")
    var stopAfterEpoch: Int?

    mutating func validate() throws {
        guard epochs >= 1 else { throw ValidationError("--epochs must be at least 1") }
        guard batchSize >= 1 else { throw ValidationError("--batch-size must be at least 1") }
        guard learningRate > 0 else { throw ValidationError("--learning-rate must be positive") }
        guard ["cosine", "constant"].contains(learningRateSchedule) else {
            throw ValidationError("--lr-schedule takes cosine or constant")
        }
        guard hiddenSizes != nil else { throw ValidationError("--hidden takes positive sizes separated by commas, such as 256,128") }
        guard bucketMiB > 0, firstBucketMiB > 0 else { throw ValidationError("bucket sizes must be positive") }
        if let algorithm, Algorithm(name: algorithm) == nil {
            throw ValidationError("--algorithm \(algorithm): expected one of \(Algorithm.allCases.map(\.rawValue).joined(separator: ", "))")
        }
        if let stepsPerEpoch, stepsPerEpoch < 1 { throw ValidationError("--steps-per-epoch must be at least 1") }
        guard ["float32", "bf16", "bfloat16", "fp16", "float16"].contains(gradientType) else {
            throw ValidationError("--gradient-type takes float32, bf16 or fp16")
        }
        if resume && checkpoint == nil { throw ValidationError("--resume needs --checkpoint DIR") }
        if centralServer && gradientType != "float32" {
            throw ValidationError("--gradient-type compresses the all-reduced gradients; --central-server reduces them in float32")
        }
        if let stopAfterEpoch, stopAfterEpoch < 1 { throw ValidationError("--stop-after-epoch must be at least 1") }
        guard pipelineStages >= 1 else { throw ValidationError("--pipeline-stages must be at least 1") }
        guard microBatches >= 1 else { throw ValidationError("--micro-batches must be at least 1") }
        guard PipelineSchedule(rawValue: schedule) != nil else { throw ValidationError("--schedule takes 1f1b or gpipe") }
        guard accumulationSteps >= 1 else { throw ValidationError("--accumulation-steps must be at least 1") }
        if pipelineStages > 1 {
            if centralServer { throw ValidationError("--central-server is data-parallel only; --pipeline-stages all-reduces each stage's gradients") }
            if accumulationSteps > 1 { throw ValidationError("--accumulation-steps is for data-parallel training; a pipeline accumulates over --micro-batches") }
            let layers = (hiddenSizes ?? []).count + 1
            if pipelineStages > layers {
                throw ValidationError("--pipeline-stages \(pipelineStages): the model has \(layers) layers (--hidden adds more), one at least per stage")
            }
        }
    }

    var hiddenSizes: [Int]? {
        if hidden.isEmpty { return [] }
        let sizes = hidden.split(separator: ",").map { Int($0.trimmingCharacters()) }
        guard sizes.allSatisfy({ ($0 ?? 0) > 0 }) else { return nil }
        return sizes.map { $0! }
    }

    /// The settings every rank of a job must have alike; a process joining with others is
    /// refused, naming the setting (it would shuffle differently, skip or repeat examples, or
    /// outlive the job). The data directory may differ between hosts, and is not compared.
    var jobSettings: [String: String] {
        [
            "--epochs": "\(epochs)", "--batch-size": "\(batchSize)", "--learning-rate": "\(learningRate)",
            "--lr-schedule": learningRateSchedule, "--momentum": "\(momentum)", "--weight-decay": "\(weightDecay)",
            "--hidden": hidden, "--seed": "\(seed)", "--gradient-type": gradientType,
            "--no-error-feedback": "\(noErrorFeedback)", "--accumulation-steps": "\(accumulationSteps)",
            "--steps-per-epoch": stepsPerEpoch.map(String.init) ?? "all", "--checkpoint": checkpoint ?? "none",
            "--stop-after-epoch": stopAfterEpoch.map(String.init) ?? "none", "--algorithm": algorithm ?? "default",
            "--central-server": "\(centralServer)", "--bucket-mib": "\(bucketMiB)", "--first-bucket-mib": "\(firstBucketMiB)",
        ]
    }

    func run() throws {
        var communicator = try Communicator.forCommand("mnist-train", joinSettings: jobSettings)
        defer { communicator.close() }
        let environment = ProcessEnvironment.current()
        // Started by `collectives-run --join`: admitted into a running job at an epoch boundary.
        let joined = environment[EnvironmentVariable.elasticJoin.name] == "1"
        let elastic = self.elastic || joined || environment[EnvironmentVariable.elastic.name] == "1"
        // How large the job may grow (collectives-run --max); without it, nobody is admitted.
        var maximumRanks = environment[EnvironmentVariable.elasticMaximum.name].flatMap { Int($0) }
        let originalRank = communicator.rank
        // Share the cores between the local ranks instead of letting each rank's OpenBLAS
        // start a thread per core.
        let cores = max(1, Int(sysconf(Int32(_SC_NPROCESSORS_ONLN))))
        // Ranks on this host: the launcher's word (LOCAL_WORLD_SIZE, Slurm's, OpenMPI's), else
        // the host identities every rank gave at rendezvous.
        if ProcessEnvironment.current()["OPENBLAS_NUM_THREADS"] == nil {
            openblas_set_num_threads(Int32(max(1, cores / max(1, communicator.localWorldSize))))
        }
        var leader = communicator.rank == 0
        let n = communicator.worldSize
        // Joiners are admitted into data-parallel training only.
        var stages = joined ? 1 : pipelineStages
        if n % stages != 0 {
            if leader { Console.error("mnist-train: --pipeline-stages \(stages) does not divide the \(n) ranks into whole replicas") }
            throw ExitCode(2)
        }
        // A pipeline's stages share their replica's shard; data parallelism shards by rank.
        func loadData(_ communicator: Communicator, stages: Int) throws -> (LabeledDataset, LabeledDataset) {
            let (shard, shards) = stages > 1
                ? (PipelineTrainer.position(rank: communicator.rank, stages: stages).replica, communicator.worldSize / stages)
                : (communicator.rank, communicator.worldSize)
            do {
                return (try LabeledDataset.mnist(directory: dataDirectory, split: "train", rank: shard, worldSize: shards),
                        try LabeledDataset.mnist(directory: dataDirectory, split: "t10k", rank: shard, worldSize: shards))
            } catch {
                Console.error("mnist-train: rank \(communicator.rank): \(error)")
                if dataDirectory == "/usr/share/datasets/fashion-mnist" {
                    Console.error("mnist-train: install Debian's dataset-fashion-mnist, or pass --data-dir")
                }
                throw ExitCode(2)
            }
        }
        var (train, test) = try loadData(communicator, stages: stages)
        var classes = [Int32(train.labels.max() ?? 0) + 1]
        var firstEpoch = 1
        if joined {
            // What the job's ranks broadcast when they admit ranks: the epoch to go on with, the
            // number of classes and the job's maximum size.
            var header: [Int64] = [0, 0, 0]
            try communicator.broadcast(&header, root: 0)
            firstEpoch = Int(header[0])
            classes = [Int32(header[1])]
            maximumRanks = header[2] > 0 ? Int(header[2]) : nil
        } else {
            try communicator.allReduce(&classes, op: .max)
        }

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
        let sizes = [train.featureCount] + hiddenSizes! + [Int(classes[0])]
        let parameterCount = sizes.indices.dropLast().reduce(0) { $0 + sizes[$1 + 1] * sizes[$1] + sizes[$1 + 1] }
        let pipelineSchedule = PipelineSchedule(rawValue: schedule)!
        func makeTrainer(_ communicator: Communicator, stages: Int) throws(CollectivesError) -> any DistributedTrainer {
            if stages > 1 {
                return try PipelineTrainer(layerSizes: sizes, seed: seed, communicator: communicator, stages: stages,
                                           microBatches: microBatches, schedule: pipelineSchedule, options: options)
            }
            return try DataParallelTrainer(model: MLP(layerSizes: sizes, batchCapacity: batchSize, seed: seed),
                                           communicator: communicator, options: options)
        }
        func describe(_ trainer: any DistributedTrainer) -> String {
            if let pipeline = trainer as? PipelineTrainer {
                let cuts = PipelineTrainer.partition(layerSizes: sizes, stages: pipeline.stageCount)
                    .map { "\(sizes[$0.lowerBound...$0.upperBound].map(String.init).joined(separator: "-"))" }.joined(separator: " | ")
                return "a \(schedule) pipeline of \(pipeline.stageCount) stages (\(cuts)) × \(pipeline.replicaCount) replica\(pipeline.replicaCount == 1 ? "" : "s")"
            }
            return "data parallelism"
        }
        var trainer = try makeTrainer(communicator, stages: stages)
        if joined { try (trainer as! DataParallelTrainer).synchronizeOptimizerState() }
        let mode: String, bucketCount: Int
        if let pipeline = trainer as? PipelineTrainer {
            bucketCount = pipeline.buckets.buckets.count
            mode = describe(pipeline) + ", \(microBatches) micro-batches per step; each stage's gradients all-reduced between its replicas"
        } else {
            bucketCount = (trainer as! DataParallelTrainer).buckets.buckets.count
            mode = centralServer ? "central server (reduce to rank 0, broadcast back)"
                : "all-reduce, \(noOverlap ? "after backward" : "overlapped with backward")"
                + (accumulationSteps > 1 ? ", \(accumulationSteps) accumulation steps per batch" : "")
        }
        let pipelined = stages > 1

        if joined {
            Console.say("mnist-train: joined the job as rank \(communicator.rank) of \(n); going on at epoch \(firstEpoch)")
        }
        if leader {
            Console.say("mnist-train: \(n) ranks over \(communicator.transportName), \(train.totalCount) training and \(test.totalCount) test examples from \(dataDirectory)")
            Console.say("model \(sizes.map(String.init).joined(separator: "-")) (\(parameterCount) parameters), global batch \(batchSize), \(bucketCount) gradient buckets\(pipelined ? " on stage 0" : ""), gradients by \(mode)")
            let precision = options.gradientPrecision.map { "\($0)\(options.errorFeedback ? " with error feedback" : "")" } ?? "float32"
            Console.say("gradients in \(precision): \(trainer.gradientBytesPerStep) bytes per rank per step\(pipelined ? " on stage 0" : "")")
        }
        // Each current rank's name: its number in the job as it started (as the launcher names
        // it), or the order in which it joined.
        var rankNames = (0..<n).map { "rank \($0)" }
        if let checkpoint, resume, !joined {
            do {
                if let completed = try trainer.restoreCheckpoint(from: checkpoint) {
                    firstEpoch = completed + 1
                    if leader { Console.say("resumed from \(Checkpoint.path(in: checkpoint)) after epoch \(completed)") }
                } else if leader {
                    Console.say("no checkpoint in \(checkpoint) yet: starting at epoch 1")
                }
            } catch let error as CheckpointError {
                Console.error("mnist-train: rank \(communicator.rank): \(error)")
                throw ExitCode(2)
            }
        }
        (trainer as? PipelineTrainer)?.markEpochBoundary()
        // On a terminal, or under a launcher whose output is one.
        let progress = ProgressBar(enabled: leader && Console.standardOutputIsTerminal)
        var rows: [EpochReport] = []
        var accuracies: [Double] = []
        let lastEpoch = min(epochs, stopAfterEpoch ?? epochs)
        var epoch = firstEpoch
        // Communicators of failed admissions: aborted, kept until the end (they hold the store's connection).
        var abandoned: [Communicator] = []
        /// Goes on without the ranks lost: a smaller communicator, new shards, the trainer moved
        /// (a pipeline put back together); `repeating` says the current epoch runs again.
        func goOnWithout(_ kind: CollectivesError.Kind?, since: Deadline, repeating: Bool) throws {
            let (next, lost) = try communicator.shrink()
            // Ranks past the names are processes whose admission was decided but never finished.
            let lostNames = lost.map { $0 < rankNames.count ? rankNames[$0] : "joining rank \($0)" }
            rankNames = rankNames.enumerated().filter { !lost.contains($0.offset) }.map(\.element)
            communicator.close()
            communicator = next
            leader = communicator.rank == 0
            var how = ""
            if let pipeline = trainer as? PipelineTrainer {
                // Put the whole model together from the stages the survivors hold, as of
                // the end of the last epoch; if a stage was lost with all its replicas,
                // from the last checkpoint.
                var whole = try pipeline.recoverWholeModel(on: communicator, epochsCompleted: epoch - 1)
                var source = "the surviving stages"
                if whole == nil {
                    guard let checkpoint, let saved = try Checkpoint.load(from: checkpoint, parameterCount: parameterCount, on: communicator) else {
                        if leader {
                            Console.error("mnist-train: every replica of a pipeline stage was lost, and there is no --checkpoint to go on from")
                        }
                        throw ExitCode(1)
                    }
                    whole = saved
                    source = "the checkpoint of epoch \(saved.epochsCompleted)"
                    epoch = saved.epochsCompleted + 1
                    accuracies = zip(rows, accuracies).filter { $0.0.epoch < epoch }.map(\.1)
                    rows = rows.filter { $0.epoch < epoch }
                }
                // As many stages as before if the survivors still form whole replicas, else
                // fewer (down to data parallelism).
                stages = (1...stages).last { communicator.worldSize % $0 == 0 }!
                (train, test) = try loadData(communicator, stages: stages)
                trainer = try makeTrainer(communicator, stages: stages)
                trainer.load(whole!)
                (trainer as? PipelineTrainer)?.markEpochBoundary()
                how = " as \(describe(trainer)) from \(source)"
            } else {
                (train, test) = try loadData(communicator, stages: 1)
                trainer = try (trainer as! DataParallelTrainer).moved(to: communicator)
            }
            if leader {
                let seconds = Double(Deadline.now.uptimeNanoseconds - since.uptimeNanoseconds) / 1e9
                let ranks = "\(communicator.worldSize) rank\(communicator.worldSize == 1 ? "" : "s")"
                Console.say("epoch \(epoch)/\(epochs): lost \(lostNames.joined(separator: ", ")) after \(fixed(seconds, 1)) s"
                            + " (\(kind.map { "\($0)" } ?? "failure")\(repeating ? "" : " while admitting joining ranks")); continuing on \(ranks)\(how)"
                            + (repeating ? ", epoch \(epoch) again" : " from epoch \(epoch + 1)"))
            }
        }
        while epoch <= lastEpoch {
            if learningRateSchedule == "cosine" {
                // Half a cosine from the base rate at the first epoch towards 0 after the last.
                let progress = Double(epoch - 1) / Double(epochs)
                trainer.options.optimizer.learningRate = learningRate * Float(0.5 * (1 + cos(Double.pi * progress)))
            }
            var report: EpochReport?, accuracy = 0.0
            var lostWith: CollectivesError.Kind?
            let epochStarted = Deadline.now
            if recordExamples != nil { trainer.examplesUsed = [] }
            do {
                report = try trainer.trainEpoch(train, epoch: epoch, steps: stepsPerEpoch) { step, steps in
                    progress.update(epoch: epoch, of: epochs, step: step, steps: steps)
                    if originalRank == killRank, epoch == killAtEpoch, step == min(3, steps) { kill(getpid(), SIGKILL) }
                }
                progress.finish()
                accuracy = try trainer.evaluate(test)
            } catch {
                progress.finish()
                guard elastic, [.peerGone, .timedOut, .closed, .transport].contains(error.kind) else { throw error }
                lostWith = error.kind
                // Wake the ranks waiting on this one in the stage's sub-communicators.
                (trainer as? PipelineTrainer)?.abort()
            }
            guard let report else {
                try goOnWithout(lostWith, since: epochStarted, repeating: true)
                continue
            }
            rows.append(report)
            accuracies.append(accuracy)
            if let recordExamples, let used = trainer.examplesUsed {
                try appendTextFile(recordExamples + "/examples-\(getpid()).txt",
                                   "epoch \(epoch): \(used.map(String.init).joined(separator: ","))\n")
            }
            (trainer as? PipelineTrainer)?.markEpochBoundary()
            if let checkpoint {
                do {
                    try trainer.saveCheckpoint(to: checkpoint, epochsCompleted: epoch)
                } catch let error as CheckpointError {
                    Console.error("mnist-train: rank \(communicator.rank): \(error)")
                    throw ExitCode(2)
                }
            }
            if leader {
                Console.say("epoch \(epoch)/\(epochs): loss \(fixed(report.trainingLoss, 4)), test accuracy \(fixed(accuracy * 100, 2))%, "
                      + "\(Int(report.examplesPerSecond)) samples/s, communication \(fixed(report.communicationSeconds, 2)) s, "
                      + "overhead \(fixed(report.communicationOverhead * 100, 1))%")
            }
            // At the boundary, admit processes waiting to join (collectives-run --join --max).
            if elastic && stages == 1 && maximumRanks != nil && epoch < lastEpoch {
                let boundary = Deadline.now
                var grown: Communicator?
                do {
                    grown = try communicator.admitJoining(maximumWorldSize: maximumRanks,
                                                          awaiting: awaitJoinAfterEpoch == epoch && rankNames.count == n ? 1 : 0,
                                                          settings: jobSettings)
                    if let grown {
                        let count = grown.worldSize - communicator.worldSize
                        let data = try loadData(grown, stages: 1)
                        var header: [Int64] = [Int64(epoch + 1), Int64(classes[0]), Int64(maximumRanks ?? 0)]
                        try grown.broadcast(&header, root: 0)
                        let moved = try (trainer as! DataParallelTrainer).moved(to: grown)
                        communicator.close()
                        communicator = grown
                        trainer = moved
                        (train, test) = data
                        let newRanks = ((communicator.worldSize - count)..<communicator.worldSize).map { "rank \($0)" }
                        rankNames += newRanks.map { "\($0) (joined after epoch \(epoch))" }
                        if leader {
                            Console.say("epoch \(epoch)/\(epochs): \(newRanks.joined(separator: ", ")) joined; continuing on \(communicator.worldSize) ranks from epoch \(epoch + 1)")
                        }
                    }
                } catch let error as CollectivesError where [.peerGone, .timedOut, .closed, .transport, .rendezvous].contains(error.kind) {
                    // A rank (old or joining) was lost during admission: go on without it from
                    // the communicator before.
                    if let grown {
                        grown.abort()
                        abandoned.append(grown)
                    }
                    try goOnWithout(error.kind, since: boundary, repeating: false)
                }
            }
            epoch += 1
        }
        _ = abandoned
        let (checksum, identical) = try trainer.parameterChecksum()
        if leader {
            let hex = String(checksum, radix: 16)
            if let pipeline = trainer as? PipelineTrainer {
                let replicas = pipeline.replicaCount
                Console.say(identical ? "parameters identical inside each stage's \(replicas) replica\(replicas == 1 ? "" : "s") (stage 0 checksum \(hex))"
                                : "parameters DIFFER between replicas of a stage (stage 0 checksum \(hex))")
            } else {
                Console.say(identical ? "parameters identical on all \(communicator.worldSize) ranks (checksum \(hex))"
                                : "parameters DIFFER between ranks (rank 0 checksum \(hex))")
            }
        }
        if let timeline {
            let spans = try trainer.gatherTimeline()
            if leader {
                try writeTextFile(timeline, try Timeline.chromeTrace(byRank: spans, labels: (trainer as? PipelineTrainer)?.rankLabels))
                Console.say("timeline written to \(timeline)")
            }
        }
        if let metrics, leader {
            try writeTextFile(metrics, MetricsReport.csv(rows, accuracies: accuracies))
            let plot = MetricsReport.plotPath(for: metrics)
            try writeTextFile(plot, MetricsReport.svg(rows, accuracies: accuracies))
            Console.say("metrics written to \(metrics) and \(plot)")
        }
        if !identical { throw ExitCode(1) }
    }
}

extension Substring {
    func trimmingCharacters() -> Substring {
        let start = firstIndex { $0 != " " } ?? endIndex
        let end = lastIndex { $0 != " " }.map { index(after: $0) } ?? start
        return self[start..<Swift.max(start, end)]
    }
}
