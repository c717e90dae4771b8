import ArgumentParser
import Collectives
import CollectivesSystem
import CommandLineSupport
import DataParallel


/// The epochs, from the first line of the log to the last.
extension TrainingRun {
    /// Says what runs where (rank 0), and that a joiner has joined.
    func announce() {
        let n = communicator.worldSize
        if joined {
            Console.say("mnist-train: joined the job as rank \(communicator.rank) of \(n); going on at epoch \(epoch)")
        }
        guard leader else { return }
        let pipelined = stages > 1
        let mode: String, bucketCount: Int
        if let pipeline = trainer as? PipelineTrainer {
            bucketCount = pipeline.buckets.buckets.count
            mode = describe(pipeline) + ", \(command.microBatches) micro-batches per step; each stage's gradients all-reduced between its replicas"
        } else {
            bucketCount = (trainer as! DataParallelTrainer).buckets.buckets.count
            mode = command.centralServer ? "central server (reduce to rank 0, broadcast back)"
                : "all-reduce, \(command.noOverlap ? "after backward" : "overlapped with backward")"
                + (command.accumulationSteps > 1 ? ", \(command.accumulationSteps) accumulation steps per batch" : "")
        }
        Console.say("mnist-train: \(n) ranks over \(communicator.transportName), \(train.totalCount) training and \(test.totalCount) test examples from \(command.dataDirectory)")
        Console.say("model \(sizes.map(String.init).joined(separator: "-")) (\(parameterCount) parameters), global batch \(command.batchSize), \(bucketCount) gradient buckets\(pipelined ? " on stage 0" : ""), gradients by \(mode)")
        let precision = options.gradientPrecision.map { "\($0)\(options.errorFeedback ? " with error feedback" : "")" } ?? "float32"
        Console.say("gradients in \(precision): \(trainer.gradientBytesPerStep) bytes per rank per step\(pipelined ? " on stage 0" : "")")
    }

    /// With `--resume`, goes on after the checkpoint's last epoch, if there is a checkpoint.
    func resumeIfAsked() throws {
        guard let checkpoint = command.checkpoint, command.resume, !joined else { return }
        do {
            if let completed = try trainer.restoreCheckpoint(from: checkpoint) {
                epoch = completed + 1
                if leader { Console.say("resumed from \(Checkpoint.path(in: checkpoint)) after epoch \(completed)") }
            } else if leader {
                Console.say("no checkpoint in \(checkpoint) yet: starting at epoch 1")
            }
        } catch let error as CheckpointError {
            Console.error("mnist-train: rank \(communicator.rank): \(error)")
            throw ExitCode(2)
        }
    }

    /// Every epoch to the last (or to `--stop-after-epoch`); in an elastic job, an epoch that
    /// lost ranks runs again on the survivors, and ranks waiting to join are admitted between
    /// epochs (`ElasticTraining`, with ``regroup(on:from:after:)``).
    func trainEpochs() throws {
        (trainer as? PipelineTrainer)?.markEpochBoundary()
        let lastEpoch = min(command.epochs, command.stopAfterEpoch ?? command.epochs)
        try elasticRun.run(from: epoch, through: lastEpoch, attempt: runEpoch, finish: record, awaiting: joinersAwaited)
        epoch = lastEpoch + 1
    }

    /// Trains and evaluates epoch `epoch`.
    func runEpoch(_ epoch: Int) throws(CollectivesError) -> (report: EpochReport, accuracy: Double) {
        self.epoch = epoch
        if command.learningRateSchedule == "cosine" {
            // Half a cosine from the base rate at the first epoch towards 0 after the last.
            let progress = Double(epoch - 1) / Double(command.epochs)
            trainer.options.optimizer.learningRate = command.learningRate * Float(0.5 * (1 + CMath.cos(Double.pi * progress)))
        }
        if command.recordExamples != nil { trainer.examplesUsed = [] }
        // On a terminal, or under a launcher whose output is one.
        let progress = ProgressBar(enabled: leader && Console.standardOutputIsTerminal)
        defer { progress.finish() }
        let epochs = command.epochs, originalRank = originalRank
        let (killRank, killAtEpoch) = (command.killRank, command.killAtEpoch)
        let report = try trainer.trainEpoch(train, epoch: epoch, steps: command.stepsPerEpoch) { step, steps in
            progress.update(epoch: epoch, of: epochs, step: step, steps: steps)
            if originalRank == killRank, epoch == killAtEpoch, step == min(3, steps) { Processes.killThisProcess() }
        }
        progress.finish()
        return (report, try trainer.evaluate(test))
    }

    /// Keeps an epoch's report, writes the checkpoint and says how it went (rank 0).
    func record(_ epoch: Int, _ result: (report: EpochReport, accuracy: Double)) throws {
        let (report, accuracy) = result
        rows.append(report)
        accuracies.append(accuracy)
        if let recordExamples = command.recordExamples, let used = trainer.examplesUsed {
            try appendTextFile(recordExamples + "/examples-\(thisProcessID).txt",
                               "epoch \(epoch): \(used.map(String.init).joined(separator: ","))\n")
        }
        (trainer as? PipelineTrainer)?.markEpochBoundary()
        if let checkpoint = command.checkpoint {
            do {
                try trainer.saveCheckpoint(to: checkpoint, epochsCompleted: epoch)
            } catch let error as CheckpointError {
                Console.error("mnist-train: rank \(communicator.rank): \(error)")
                throw ExitCode(2)
            }
        }
        if leader {
            Console.say("epoch \(epoch)/\(command.epochs): loss \(fixed(report.trainingLoss, 4)), test accuracy \(fixed(accuracy * 100, 2))%, "
                  + "\(Int(report.examplesPerSecond)) samples/s, communication \(fixed(report.communicationSeconds, 2)) s, "
                  + "overhead \(fixed(report.communicationOverhead * 100, 1))%")
        }
    }

    /// Checks that every replica holds the same parameters and writes the timeline and
    /// metrics asked for; throws exit code 1 if the parameters differ.
    func finish() throws {
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
        if let timeline = command.timeline {
            let spans = try trainer.gatherTimeline()
            if leader {
                try writeTextFile(timeline, try Timeline.chromeTrace(byRank: spans, labels: (trainer as? PipelineTrainer)?.rankLabels))
                Console.say("timeline written to \(timeline)")
            }
        }
        if let metrics = command.metrics, leader {
            try writeTextFile(metrics, MetricsReport.csv(rows, accuracies: accuracies))
            let plot = MetricsReport.plotPath(for: metrics)
            try writeTextFile(plot, MetricsReport.svg(rows, accuracies: accuracies))
            Console.say("metrics written to \(metrics) and \(plot)")
        }
        if !identical { throw ExitCode(1) }
    }
}
