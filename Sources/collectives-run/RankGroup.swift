import CollectivesSystem
import CommandLineSupport

/// How a rank ended.
struct RankFailure: CustomStringConvertible {
    let rank: Int
    let status: Int32
    let signal: Int32?
    let stoppedByLauncher: Bool
    /// The host it ran on, for ranks started through a launch agent.
    var host: String? = nil

    var exitCode: Int32 { signal.map { 128 + $0 } ?? status }

    init(rank: Int, status: Int32, signal: Int32?, stoppedByLauncher: Bool, host: String? = nil) {
        (self.rank, self.status, self.signal, self.stoppedByLauncher, self.host) = (rank, status, signal, stoppedByLauncher, host)
    }

    /// Rank `rank`, which ended as `ended` on its own.
    init(rank: Int, ended: ExitStatus, host: String?) {
        switch ended {
        case .exited(let code): self.init(rank: rank, status: code, signal: nil, stoppedByLauncher: false, host: host)
        case .killed(let signal): self.init(rank: rank, status: 0, signal: signal.number, stoppedByLauncher: false, host: host)
        }
    }

    var description: String {
        if stoppedByLauncher, let signal {
            return "stopped every rank after signal \(signal) (\(Signal(signal).name))"
        }
        return ending("stopped the other ranks")
    }

    /// How it ended, in an elastic job (where the others were not stopped).
    var elasticDescription: String { ending("the others went on") }

    /// The rank, where it ran, how it ended, then `consequence`.
    private func ending(_ consequence: String) -> String {
        let place = host.map { " (on \($0), through the launch agent)" } ?? ""
        let how = signal.map { "was killed by signal \($0) (\(Signal($0).name))" } ?? "exited with status \(status)"
        return "rank \(rank)\(place) \(how); \(consequence)"
    }
}

/// The started ranks: their process ids and the pipes carrying their output.
final class RankGroup {
    struct Rank {
        let rank: Int
        let process: ChildProcess
        var running = true
        /// The write end of its standard input, for ranks started through a launch agent: kept
        /// open while the rank runs (the far end stops the rank when it closes).
        var input: Int32 = -1
        /// Started through a launch agent: stopped by closing ``input`` (its far end stops the
        /// program, whose last output still flows back), signalled only at the kill deadline.
        let throughAgent: Bool
        /// The host it runs on, when started through an agent.
        let host: String?
    }

    /// One output pipe of one rank, with the partial line read so far.
    struct Output {
        let rank: Int
        let descriptor: Int32
        let toStandardError: Bool
        /// A file that gets every line too, unprefixed (`--output-filename`); -1 for none.
        var file: Int32 = -1
        var pending: [UInt8] = []
        var open = true
    }

    var ranks: [Rank] = []
    var outputs: [Output] = []
    let prefixOutput: Bool
    /// Where each rank's output is written too, if anywhere.
    private let files: OutputFiles?
    /// Each rank's output files, opened before any rank starts (``openFiles(for:)``).
    private var openedFiles: [Int: (output: Int32, error: Int32)] = [:]
    let grace: Double
    let report: Double
    /// A failing rank does not stop the others.
    let elastic: Bool
    /// Every rank that failed, in order (kept in elastic jobs).
    var failures: [RankFailure] = []

    /// The word before each rank's number in the prefix of its lines.
    let label: String
    /// Where the ranks' flight recorders go, and whether a failure asks for them.
    var flight: FlightReport?

    init(prefixOutput: Bool, grace: Double, report: Double, elastic: Bool = false, label: String = "rank", files: OutputFiles? = nil) {
        self.label = label
        self.files = files
        self.report = report
        self.elastic = elastic
        self.prefixOutput = prefixOutput
        self.grace = grace
    }

    /// Makes and opens the output files of `ranks` (with `--output-filename`), so that a folder
    /// that cannot be written fails the job before any rank starts.
    func openFiles(for ranks: Range<Int>) throws(SystemError) {
        guard let files else { return }
        for rank in ranks { openedFiles[rank] = try files.open(rank: rank) }
    }

    /// Starts one rank with its stdout and stderr on pipes, and, given `input`, its standard
    /// input on a pipe that carries those bytes and then stays open until the rank is stopped.
    /// Bound to `core` when one is given (``CoreBinding``). Returns the rank's pid.
    @discardableResult
    func spawn(rank: Int, command: [String], environment: [String: String], input: [UInt8]? = nil, host: String? = nil,
               core: Int? = nil) throws -> Int32 {
        // Close-on-exec pipes: rank k must not inherit the read ends of ranks 0..<k (it would
        // keep their output open after they end).
        let inPipe = try input.map { _ throws(SystemError) in try Pipe.make() }
        defer { if let inPipe { Descriptors.close(inPipe.readEnd) } }
        let outPipe: Pipe, errPipe: Pipe
        do {
            outPipe = try Pipe.make()
            do {
                errPipe = try Pipe.make()
            } catch {
                outPipe.close()
                throw error
            }
        } catch {
            if let inPipe { Descriptors.close(inPipe.writeEnd) }
            throw error
        }
        let process: ChildProcess
        do {
            // A rank starts with standard input, output and error only, as under mpirun: not
            // the shell's or a test harness's other descriptors.
            let start = { () throws(SystemError) in
                try ChildProcess.startInOwnGroup(command, environment: environment, input: inPipe.map { .descriptor($0.readEnd) } ?? .inherited,
                                                 output: outPipe.writeEnd, error: errPipe.writeEnd, onlyStandardStreams: true)
            }
            process = try core.map { core in try withThreadBound(to: core) { try start() } } ?? start()
        } catch {
            outPipe.close()
            errPipe.close()
            if let inPipe { Descriptors.close(inPipe.writeEnd) }
            throw error
        }
        Descriptors.close(outPipe.writeEnd)
        Descriptors.close(errPipe.writeEnd)
        if let input, let inPipe {
            // A few kilobytes: the pipe holds them whether or not the rank has started reading.
            input.withUnsafeBytes { _ = Descriptors.writeAll(inPipe.writeEnd, $0) }
        }
        let agentInput = inPipe?.writeEnd ?? -1
        ranks.append(Rank(rank: rank, process: process, input: agentInput, throughAgent: agentInput >= 0, host: agentInput >= 0 ? host : nil))
        let written = openedFiles.removeValue(forKey: rank)
        outputs.append(Output(rank: rank, descriptor: outPipe.readEnd, toStandardError: false, file: written?.output ?? -1))
        outputs.append(Output(rank: rank, descriptor: errPipe.readEnd, toStandardError: true, file: written?.error ?? -1))
        return process.pid
    }

    /// Sends SIGTERM (or `number`) to the process group of every rank, so that what a rank
    /// started stops too. Ranks started through an agent get their input closed instead, and
    /// only SIGKILL: their far end stops the program, whose last words still reach us.
    /// As ``spawn(rank:command:environment:input:host:)``, but a rank that cannot start stops the
    /// ranks already started, and waits for them, before the error is thrown.
    @discardableResult
    func spawnOrStopAll(rank: Int, command: [String], environment: [String: String], input: [UInt8]? = nil, host: String? = nil,
                        core: Int? = nil) throws -> Int32 {
        do {
            return try spawn(rank: rank, command: command, environment: environment, input: input, host: host, core: core)
        } catch {
            terminateAll()
            _ = waitForAll()
            throw error
        }
    }

    func terminateAll(signal: Signal = .terminate) {
        for index in ranks.indices { closeInput(index) }
        for rank in ranks where signal == .kill || !rank.throughAgent {
            if !rank.process.sendToGroup(signal) && rank.running { rank.process.send(signal) }
        }
    }

    /// Closes a rank's standard input pipe, which tells a rank started through an agent to stop.
    func closeInput(_ index: Int) {
        if ranks[index].input >= 0 {
            Descriptors.close(ranks[index].input)
            ranks[index].input = -1
        }
    }

    /// Sends `number` to every running rank started here (not through an agent): `SIGUSR1` asks
    /// for their flight recorders.
    func signalRanks(_ signal: Signal) {
        for rank in ranks where rank.running && !rank.throughAgent { rank.process.send(signal) }
    }
}
