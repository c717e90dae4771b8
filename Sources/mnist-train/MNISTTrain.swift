import ArgumentParser
import Collectives
import CollectivesSystem
import CommandLineSupport
import DataParallel

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
        let run = try TrainingRun(self)
        defer { run.close() }
        run.announce()
        try run.resumeIfAsked()
        try run.trainEpochs()
        try run.finish()
    }
}

extension Substring {
    func trimmingCharacters() -> Substring {
        let start = firstIndex { $0 != " " } ?? endIndex
        let end = lastIndex { $0 != " " }.map { index(after: $0) } ?? start
        return self[start..<Swift.max(start, end)]
    }
}
