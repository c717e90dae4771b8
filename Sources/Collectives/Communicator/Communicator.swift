import CollectivesBootstrap
import CollectivesRendezvous
import CollectivesSystem
import CollectivesTransport
import Logging

/// A group of ranks that run collectives together: the object a program makes once and calls
/// for every all-reduce.
///
/// ```swift
/// import Collectives
///
/// // Under collectives-run, torchrun, srun or mpirun:
/// let communicator = try Communicator.fromEnvironment()
/// var gradients = [Float](repeating: Float(communicator.rank), count: 1_000_000)
/// try communicator.allReduce(&gradients, op: .average)
/// // or, from async code, without blocking a cooperative thread:
/// try await communicator.allReduce(&gradients, op: .sum)
/// communicator.close()
/// ```
///
/// Every rank must call the same collectives in the same order with the same counts, types and
/// operations. Calls on one communicator run one at a time, in the order they were issued;
/// blocking calls run on the caller's thread, `async` calls on the communicator's own thread.
/// Every call is bounded by ``CommunicatorOptions/timeout``.
public final class Communicator: @unchecked Sendable {
    /// This process's rank, `0..<worldSize`.
    public let rank: Int
    /// The number of ranks.
    public let worldSize: Int
    /// The settings this communicator was made with.
    public let options: CommunicatorOptions
    /// The transport's name, for example `"tcp"`.
    public var transportName: String { transport.name }
    /// The host of every rank, by rank: ranks with the same number share a host (numbered in
    /// order of their first rank). Learned from every rank's host identity at rendezvous
    /// (`COLLECTIVES_HOST_ID`, or the kernel's boot id and namespaces).
    public let hosts: [Int]
    /// This rank's place among the ranks on its host: the launcher's (`LOCAL_RANK`,
    /// `SLURM_LOCALID`, `OMPI_COMM_WORLD_LOCAL_RANK`, `MPI_LOCALRANKID`) where it says, else its order among them.
    public let localRank: Int
    /// The number of ranks on this host: the launcher's (`LOCAL_WORLD_SIZE`,
    /// `SLURM_STEP_TASKS_PER_NODE`, `OMPI_COMM_WORLD_LOCAL_SIZE`, `MPI_LOCALNRANKS`) where it says, else from
    /// ``hosts``. For sharing the cores (BLAS threads) and for how waits use them.
    public let localWorldSize: Int

    let transport: any Transport
    /// The transport's board where it has one (every rank on one host's shared memory): what
    /// the one-shot all-reduce runs on.
    let board: (any MessageBoard)?
    /// The transport's engine as the package's tests and checks observe it.
    package var transportProbe: (any TransportProbe)? { transport as? any TransportProbe }
    /// Where the ranks are, for topology-aware algorithms.
    let layout: HostLayout
    /// The transport a flat ring runs over: ranks ordered host by host.
    let ringTransport: any Transport
    let queue: OperationQueue
    let logger: Logger
    /// What bootstrap made besides the transport (the rendezvous store and, on the rank that
    /// serves it, its server); kept for the communicator's lifetime.
    let bootstrapped: Bootstrapped?
    /// How many times the job has shrunk or grown to reach this communicator
    /// (``shrink(grace:)``, ``admitJoining(maximumWorldSize:awaiting:settings:)``).
    var elasticGeneration = 0
    /// The store where the job's ranks agree on shrinking and growing: the one the first
    /// communicator was bootstrapped through (later ones are bootstrapped under prefixes of it).
    var elasticStoreOverride: (any Store)?
    var elasticStore: (any Store)? { elasticStoreOverride ?? bootstrapped?.store }
    /// Publishes this rank's progress for stuck-rank diagnosis (when there is a store).
    let progress: ProgressReporter?
    /// This communicator's last calls, for diagnosis (``CommunicatorOptions/flightRecorderEntries``).
    package let recorder: FlightRecorder?
    /// This communicator's number in this process: 0 for the first made (as every rank makes
    /// them in the same order, the same on every rank), in its log lines and flight recorder.
    package let number: Int

    /// Calls, bytes, time and failures, for swift-metrics.
    let metrics: CollectiveMetrics

    // Touched only inside operations, which the queue serializes.
    var sequence: UInt64 = 0
    let workspace: Workspace
    /// The constants of the automatic choice, once known (set, or measured on first need).
    var costModel: CostModel?
    /// The reduction kernels made so far, by type and operation (``Ordinals``).
    var kernels: [ReductionKernel?] = []
    /// The cost model's choices already made, by size (``resolve(_:bytes:)``).
    var automaticChoices = AlgorithmChoices()

    /// Makes a communicator over a transport that is already connected (for example one of an
    /// `InProcessTransport` group).
    /// Every rank is taken to be on this host (as a group of threads would be).
    public convenience init(transport: any Transport, options: CommunicatorOptions = CommunicatorOptions()) {
        self.init(transport: transport, options: options, bootstrapped: nil)
    }

    init(transport: any Transport, options: CommunicatorOptions, bootstrapped: Bootstrapped?, hosts: [Int]? = nil) {
        let localRank = bootstrapped?.localRank, localWorldSize = bootstrapped?.localWorldSize
        self.transport = transport
        board = transport as? any MessageBoard
        self.rank = transport.rank
        self.worldSize = transport.worldSize
        let hosts = hosts ?? bootstrapped?.hosts ?? Array(repeating: 0, count: transport.worldSize)
        self.hosts = hosts
        layout = HostLayout(hosts: hosts)
        ringTransport = layout.ringOrder.flatMap { TransportSubset(base: transport, members: $0) } ?? transport
        let mine = hosts.indices.filter { hosts[$0] == hosts[transport.rank] }
        self.localRank = localRank ?? mine.firstIndex(of: transport.rank) ?? 0
        self.localWorldSize = localWorldSize ?? mine.count
        self.options = options
        self.bootstrapped = bootstrapped
        progress = transport.worldSize > 1 ? bootstrapped?.store.map { ProgressReporter(store: $0, rank: transport.rank, worldSize: transport.worldSize) } : nil
        let number = FlightRecorders.takeCommunicatorNumber()
        self.number = number
        var logger = options.logger
        logger[metadataKey: "rank"] = "\(transport.rank)"
        logger[metadataKey: "communicator"] = "\(number)"
        self.logger = logger
        metrics = CollectiveMetrics(factory: options.metricsFactory)
        costModel = options.costModel
        workspace = Workspace(scratchBytes: options.ringWindow * options.ringSegmentBytes)
        let recorder = transport.worldSize > 1 && options.flightRecorderEntries > 0
            ? FlightRecorder(communicator: number, rank: transport.rank, worldSize: transport.worldSize,
                             capacity: options.flightRecorderEntries, directory: options.flightRecorderDirectory)
            : nil
        self.recorder = recorder
        queue = OperationQueue(recorder: recorder)
        if let recorder { FlightRecorders.register(recorder) }
    }

    deinit { close() }

    /// Closes the connections, stops the communicator's thread and, on the rank that serves it,
    /// the rendezvous store. Calls still queued fail with ``CollectivesError/Kind/closed`` (or
    /// with the error the communicator failed with before), without touching their buffers;
    /// every queued transfer is dropped before this returns.
    public func close() {
        queue.fail(CollectivesError(.closed, rank: rank, operation: "close", reason: "the communicator was closed"))
        transport.close()
        queue.shutdown()
        progress?.stop()
        bootstrapped?.close()
    }

    /// Stops the communicator from any thread, without waiting: every blocked call (in any thread,
    /// on any rank's side of this process) fails at once with ``CollectivesError/Kind/closed``,
    /// and so does every later call. Peers see this rank as gone. Call ``close()`` afterwards to
    /// release the threads.
    public func abort() {
        logger.debug("rank \(rank): aborted")
        queue.fail(CollectivesError(.closed, rank: rank, operation: "abort", reason: "the communicator was aborted"))
        transport.close()
    }

    /// The error this communicator failed with, if it has: after any transport error or timeout
    /// every call throws it at once (see docs/errors.md).
    public var failure: CollectivesError? { queue.currentFailure }

    /// The next sequence number; every rank numbers its collectives the same way.
    func nextSequence() -> UInt64 {
        sequence &+= 1
        // What other ranks' timeout diagnoses read.
        progress?.reached(sequence)
        return sequence
    }

    /// The deadline for an operation starting now (or at `start`).
    /// One collective, numbered: takes the next sequence number for a call of `kind`, times it
    /// into the metrics under the kind's name (with `algorithm` and `bytes`), runs `body` over
    /// its exchange, and turns a transport error into this communicator's failure, named by the
    /// call (`what`, when given, in place of its count, type, operation and root).
    func runNumbered(_ kind: CollectiveKind, _ dataType: DataType?, count: Int = 0, op: ReduceOperation? = nil, root: Int? = nil,
                     algorithm: String = "direct", bytes: Int, what: @autoclosure () -> String? = nil, segmentBytes: Int? = nil,
                     _ body: (Exchange) throws(TransportError) -> Void) throws(CollectivesError) {
        let call = CallDescriptor(kind, sequence: nextSequence(), count: count, dataType: dataType, op: op, root: root)
        let started = MonotonicClock.nanoseconds
        defer { metrics.record(call.kindName, algorithm: algorithm, bytes: bytes, since: started) }
        do {
            try body(exchange(call, segmentBytes: segmentBytes))
        } catch {
            throw failure(error, what().map { "\(call.kindName) #\(call.sequence) \($0)" } ?? call.description)
        }
    }

    func operationDeadline(from start: Deadline = .now) -> Deadline { .after(seconds: options.timeoutSeconds, from: start) }

    /// The context of one collective's messages: its tag (which describes the call), deadline
    /// (from `start`, the time the call began, read once for its metrics too) and segment size.
    func exchange(_ call: CallDescriptor, segmentBytes: Int? = nil, start: Deadline = .now) -> Exchange {
        let tag = call.tag
        recorder?.begin(tag)
        return Exchange(transport: transport, tag: tag, deadline: operationDeadline(from: start),
                 workspace: workspace, segmentBytes: segmentBytes ?? options.ringSegmentBytes, window: options.ringWindow)
    }

    /// Throws unless `root` is a rank of this communicator.
    func checkRoot(_ root: Int, operation: String) throws(CollectivesError) {
        guard root >= 0, root < worldSize else {
            throw CollectivesError(.invalidArgument, rank: rank, operation: operation,
                                   reason: "root \(root) is outside 0..<\(worldSize)")
        }
    }

    /// Wraps and logs a transport error of `operation`, and fails the communicator with it: the
    /// transport drops every queued transfer (no caller's buffer is touched again, and peers see
    /// this rank gone), and every later call throws this error.
    ///
    /// A timeout also says which ranks never reached this collective, from the progress every
    /// rank publishes to the store.
    func failure(_ error: TransportError, _ operation: String) -> CollectivesError {
        if let earlier = queue.currentFailure { return earlier }
        let (failure, firstDescription) = describe(error, operation)
        metrics.recordFailure(failure.kind)
        recorder?.fail(peer: failure.peer, error: failure.description)
        queue.fail(failure)
        if failure.kind == .timedOut, let recorder, let path = FlightRecorders.write(recorder, reason: .timeout) {
            // What this rank was doing, for `collectives-run --analyze`.
            logger.notice("rank \(rank): flight recorder written to \(path)")
        }
        if failure.kind == .peerGone || failure.kind == .timedOut {
            // A timeout's cause is a rank that never arrived, when the store could say which.
            progress?.recordFailure(firstFailed: failure.firstFailedRank ?? failure.missingRanks.first ?? failure.peer, firstDescription)
        }
        transport.fail(error)
        return failure
    }

    /// The error, and the description of the failure it started from (a peer's, when the peer
    /// had failed first; this one's otherwise), which this rank's failure record passes on.
    private func describe(_ error: TransportError, _ operation: String) -> (CollectivesError, String) {
        var failure = CollectivesError(error, operation: operation)
        if error.kind == .timedOut, let progress, let laggards = progress.laggards(before: sequence) {
            let diagnosis = laggards.isEmpty
                ? "every rank has reached it; the ranks this one waits for are inside it"
                : "ranks that have not reached it: " + laggards.map { "rank \($0.rank) (last reached #\($0.reached))" }.joined(separator: ", ")
            failure = CollectivesError(failure.kind, rank: failure.rank, operation: failure.operation, peer: failure.peer,
                                       reason: failure.reason + "; " + diagnosis, missingRanks: laggards.map(\.rank))
        }
        var first: String?
        if error.kind == .peerGone, let peer = failure.peer, let earlier = progress?.failure(of: peer) {
            // The peer closed because it had failed itself: name the rank its failure came from.
            let cause = earlier.firstFailed.map { " because of rank \($0)" } ?? ""
            failure = CollectivesError(failure.kind, rank: failure.rank, operation: failure.operation, peer: failure.peer,
                                       reason: failure.reason + "; rank \(peer) had failed first\(cause) (\(earlier.description))")
            failure.firstFailedRank = earlier.firstFailed ?? peer
            first = earlier.description
        }
        // Reported once: thrown to the caller, whose words it becomes; logged only for debugging.
        logger.debug("\(failure)", metadata: ["operation": "\(operation)", "peer": "\(failure.peer.map(String.init) ?? "none")"])
        return (failure, first ?? failure.description)
    }
}

/// Which collective a message belongs to: the low byte of every tag (the high bytes hold the
/// collective's sequence number, or a point-to-point message's own tag).
enum CollectiveKind: UInt64 {
    case allReduce = 1
    case broadcast = 2
    case reduce = 3
    case allGather = 4
    case reduceScatter = 5
    case allToAll = 6
    case gather = 7
    case scatter = 8
    case barrier = 9
    case probe = 10
    case split = 11
    case pointToPoint = 12
    case setUp = 13
    case allGatherVariable = 14
    case gatherVariable = 15
    case scatterVariable = 16
    case allToAllVariable = 17
    case customAllReduce = 18
}
