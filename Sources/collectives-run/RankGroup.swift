import CCollectivesShim
import CollectivesSystem
import CommandLineSupport

#if canImport(Glibc)
import Glibc
#endif

/// How a rank ended.
struct RankFailure: CustomStringConvertible {
    let rank: Int
    let status: Int32
    let signal: Int32?
    let stoppedByLauncher: Bool
    /// The host it ran on, for ranks started through a launch agent.
    var host: String? = nil

    var exitCode: Int32 { signal.map { 128 + $0 } ?? status }

    var description: String {
        if stoppedByLauncher, let signal {
            return "stopped every rank after signal \(signal) (\(signalName(signal)))"
        }
        return ending("stopped the other ranks")
    }

    /// How it ended, in an elastic job (where the others were not stopped).
    var elasticDescription: String { ending("the others went on") }

    /// The rank, where it ran, how it ended, then `consequence`.
    private func ending(_ consequence: String) -> String {
        let place = host.map { " (on \($0), through the launch agent)" } ?? ""
        let how = signal.map { "was killed by signal \($0) (\(signalName($0)))" } ?? "exited with status \(status)"
        return "rank \(rank)\(place) \(how); \(consequence)"
    }
}

func signalName(_ number: Int32) -> String {
    switch number {
    case SIGINT: return "SIGINT"
    case SIGTERM: return "SIGTERM"
    case SIGKILL: return "SIGKILL"
    case SIGSEGV: return "SIGSEGV"
    case SIGABRT: return "SIGABRT"
    case SIGILL: return "SIGILL"
    case SIGBUS: return "SIGBUS"
    case SIGFPE: return "SIGFPE"
    case SIGHUP: return "SIGHUP"
    case SIGPIPE: return "SIGPIPE"
    case SIGTRAP: return "SIGTRAP"
    default: return "signal \(number)"
    }
}

/// The started ranks: their process ids and the pipes carrying their output.
final class RankGroup {
    struct Rank {
        let rank: Int
        let pid: pid_t
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

    private var ranks: [Rank] = []
    private var outputs: [Output] = []
    private let prefixOutput: Bool
    /// Where each rank's output is written too, if anywhere.
    private let files: OutputFiles?
    /// Each rank's output files, opened before any rank starts (``openFiles(for:)``).
    private var openedFiles: [Int: (output: Int32, error: Int32)] = [:]
    private let grace: Double
    private let report: Double
    /// A failing rank does not stop the others.
    private let elastic: Bool
    /// Every rank that failed, in order (kept in elastic jobs).
    private(set) var failures: [RankFailure] = []

    /// The word before each rank's number in the prefix of its lines.
    private let label: String
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
               core: Int? = nil) throws -> pid_t {
        var inPipe: [Int32] = [-1, -1]
        if input != nil {
            guard collectives_pipe_cloexec(&inPipe) == 0 else { throw SystemError(call: "pipe2", errno: errno) }
        }
        defer { if inPipe[0] >= 0 { _ = close(inPipe[0]) } }
        var outPipe: [Int32] = [0, 0], errPipe: [Int32] = [0, 0]
        // Close-on-exec: rank k must not inherit the read ends of ranks 0..<k (it would keep
        // their output open after they end). The spawn's dup2 onto 1 and 2 clears the flag
        // on the copies the rank keeps.
        guard collectives_pipe_cloexec(&outPipe) == 0 else {
            let code = errno
            if inPipe[1] >= 0 { _ = close(inPipe[1]) }
            throw SystemError(call: "pipe2", errno: code)
        }
        guard collectives_pipe_cloexec(&errPipe) == 0 else {
            let code = errno
            _ = close(outPipe[0])
            _ = close(outPipe[1])
            if inPipe[1] >= 0 { _ = close(inPipe[1]) }
            throw SystemError(call: "pipe2", errno: code)
        }
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_adddup2(&actions, outPipe[1], 1)
        posix_spawn_file_actions_adddup2(&actions, errPipe[1], 2)
        if inPipe[0] >= 0 { posix_spawn_file_actions_adddup2(&actions, inPipe[0], 0) }
        for fd in [outPipe[0], outPipe[1], errPipe[0], errPipe[1]] {
            posix_spawn_file_actions_addclose(&actions, fd)
        }
        // And whatever else the launcher inherited (a shell's, a test harness's descriptors):
        // a rank starts with standard input, output and error only, as under mpirun.
        collectives_spawn_close_from(&actions, 3)
        let pid: pid_t
        do {
            if let core {
                pid = try withThreadBound(to: core) { try spawnInOwnGroup(command, environment: environment, actions: &actions) }
            } else {
                pid = try spawnInOwnGroup(command, environment: environment, actions: &actions)
            }
        } catch {
            _ = close(outPipe[1])
            _ = close(errPipe[1])
            _ = close(outPipe[0])
            _ = close(errPipe[0])
            if inPipe[1] >= 0 { _ = close(inPipe[1]) }
            throw error
        }
        _ = close(outPipe[1])
        _ = close(errPipe[1])
        if let input, inPipe[1] >= 0 {
            // A few kilobytes: the pipe holds them whether or not the rank has started reading.
            var offset = 0
            while offset < input.count {
                let n = input.withUnsafeBytes { write(inPipe[1], $0.baseAddress! + offset, $0.count - offset) }
                if n <= 0 {
                    if errno == EINTR { continue }
                    break
                }
                offset += n
            }
        }
        ranks.append(Rank(rank: rank, pid: pid, input: inPipe[1], throughAgent: inPipe[1] >= 0, host: inPipe[1] >= 0 ? host : nil))
        let written = openedFiles.removeValue(forKey: rank)
        outputs.append(Output(rank: rank, descriptor: outPipe[0], toStandardError: false, file: written?.output ?? -1))
        outputs.append(Output(rank: rank, descriptor: errPipe[0], toStandardError: true, file: written?.error ?? -1))
        return pid
    }

    /// Sends SIGTERM (or `number`) to the process group of every rank, so that what a rank
    /// started stops too. Ranks started through an agent get their input closed instead, and
    /// only SIGKILL: their far end stops the program, whose last words still reach us.
    /// As ``spawn(rank:command:environment:input:host:)``, but a rank that cannot start stops the
    /// ranks already started, and waits for them, before the error is thrown.
    @discardableResult
    func spawnOrStopAll(rank: Int, command: [String], environment: [String: String], input: [UInt8]? = nil, host: String? = nil,
                        core: Int? = nil) throws -> pid_t {
        do {
            return try spawn(rank: rank, command: command, environment: environment, input: input, host: host, core: core)
        } catch {
            terminateAll()
            _ = waitForAll()
            throw error
        }
    }

    func terminateAll(signal number: Int32 = SIGTERM) {
        for index in ranks.indices { closeInput(index) }
        for rank in ranks where number == SIGKILL || !rank.throughAgent {
            if kill(-rank.pid, number) != 0 && rank.running { _ = kill(rank.pid, number) }
        }
    }

    /// Closes a rank's standard input pipe, which tells a rank started through an agent to stop.
    private func closeInput(_ index: Int) {
        if ranks[index].input >= 0 {
            _ = close(ranks[index].input)
            ranks[index].input = -1
        }
    }

    /// Sends `number` to every running rank started here (not through an agent): `SIGUSR1` asks
    /// for their flight recorders.
    func signalRanks(_ number: Int32) {
        for rank in ranks where rank.running && !rank.throughAgent { _ = kill(rank.pid, number) }
    }

    /// Relays output and reaps ranks until all have ended. Returns the first failure, if any.
    /// With ``flight``, a `SIGUSR1` to the launcher reaches every rank and the dumps are
    /// analysed two seconds later; with its `onFailure`, so does the first failure, and the
    /// dumps are analysed once every rank has ended.
    func waitForAll() -> RankFailure? {
        var analysisDue: Deadline?
        var analyzeAtEnd = false
        defer { if analyzeAtEnd { flight?.analyze() } }
        var firstFailure: RankFailure?
        var killDeadline: Deadline?
        var terminateDeadline: Deadline?
        var pollSet: [pollfd] = []
        var readBuffer = [UInt8](repeating: 0, count: 65536)
        var drainDeadline: Deadline?
        while ranks.contains(where: \.running) || outputs.contains(where: \.open) {
            // Once every rank has ended, read what is left for a moment, then stop the
            // processes they left behind holding the pipes.
            if !ranks.contains(where: \.running) {
                if drainDeadline == nil { drainDeadline = .after(seconds: 1) }
                if drainDeadline!.hasPassed {
                    terminateAll(signal: SIGKILL)
                    for index in outputs.indices where outputs[index].open {
                        flush(index)
                        closeOutput(index)
                    }
                    break
                }
            }
            // A stop request from the user.
            let requested = stopSignal.exchange(0, ordering: .relaxed)
            if requested != 0 {
                if firstFailure == nil {
                    firstFailure = RankFailure(rank: -1, status: 1, signal: requested, stoppedByLauncher: true)
                }
                terminateAll()
                killDeadline = killDeadline ?? .after(seconds: grace)
            }
            if dumpRequest.exchange(false, ordering: .relaxed) {
                signalRanks(SIGUSR1)
                analysisDue = .after(seconds: 2)
            }
            if let due = analysisDue, due.hasPassed {
                analysisDue = nil
                flight?.analyze()
            }
            // Ranks that ended.
            for index in ranks.indices where ranks[index].running {
                var status: Int32 = 0
                let rc = waitpid(ranks[index].pid, &status, WNOHANG)
                guard rc == ranks[index].pid else { continue }
                ranks[index].running = false
                closeInput(index)
                let exited = status & 0x7f == 0
                let code = (status >> 8) & 0xff
                let signal: Int32? = exited ? nil : status & 0x7f
                if signal != nil || code != 0 {
                    let failure = RankFailure(rank: ranks[index].rank, status: code, signal: signal, stoppedByLauncher: false,
                                              host: ranks[index].host)
                    failures.append(failure)
                    if elastic {
                        // The others go on without it; say so now, while they do.
                        Console.error("collectives-run: --elastic: \(failure.elasticDescription)")
                    } else if firstFailure == nil {
                        firstFailure = failure
                        if flight?.onFailure == true {
                            // The others' flight recorders, while they are still there.
                            signalRanks(SIGUSR1)
                            analyzeAtEnd = true
                        }
                        // The others will see the failure and report it in their own words: give
                        // them a moment before stopping them.
                        terminateDeadline = .after(seconds: report)
                    }
                }
            }
            if let deadline = terminateDeadline, deadline.hasPassed {
                terminateDeadline = nil
                terminateAll()
                killDeadline = killDeadline ?? .after(seconds: grace)
            }
            if let deadline = killDeadline, deadline.hasPassed {
                terminateAll(signal: SIGKILL)
                killDeadline = .after(seconds: 3600)
            }
            // Output.
            pollSet.removeAll(keepingCapacity: true)
            var indices: [Int] = []
            for (index, output) in outputs.enumerated() where output.open {
                pollSet.append(pollfd(fd: output.descriptor, events: Int16(POLLIN), revents: 0))
                indices.append(index)
            }
            let stillRunning = ranks.contains(where: \.running)
            if pollSet.isEmpty {
                if stillRunning { sleepSeconds(0.05) }
                continue
            }
            // Wake at least every 100 ms to reap ranks (their pipes may stay open through children).
            let rc = poll(&pollSet, nfds_t(pollSet.count), stillRunning ? 100 : 1000)
            guard rc > 0 else { continue }
            for (slot, entry) in pollSet.enumerated() where entry.revents != 0 {
                let index = indices[slot]
                let n = readBuffer.withUnsafeMutableBytes { read(outputs[index].descriptor, $0.baseAddress, $0.count) }
                if n > 0 {
                    relay(index, readBuffer[0..<n])
                } else if n == 0 || (errno != EINTR && errno != EAGAIN) {
                    flush(index)
                    closeOutput(index)
                }
            }
        }
        return firstFailure
    }

    /// Emits every complete line; a segment ended by a carriage return (a progress bar
    /// redrawing itself) is emitted at once too, prefixed, so that it stays live.
    private func relay(_ index: Int, _ bytes: ArraySlice<UInt8>) {
        outputs[index].pending.append(contentsOf: bytes)
        while var end = outputs[index].pending.firstIndex(where: { $0 == UInt8(ascii: "\n") || $0 == UInt8(ascii: "\r") }) {
            // "\r\n" (as ssh ends its own messages) is one line end; wait for the byte after a
            // final "\r" to tell.
            if outputs[index].pending[end] == UInt8(ascii: "\r") {
                let next = outputs[index].pending.index(after: end)
                if next == outputs[index].pending.endIndex { break }
                if outputs[index].pending[next] == UInt8(ascii: "\n") { end = next }
            }
            var line = Array(outputs[index].pending[...end])
            outputs[index].pending.removeSubrange(...end)
            if line.count >= 2 && line[line.count - 2] == UInt8(ascii: "\r") && line.last == UInt8(ascii: "\n") {
                line.remove(at: line.count - 2)
            }
            emit(index, line)
        }
    }

    private func flush(_ index: Int) {
        if !outputs[index].pending.isEmpty {
            emit(index, outputs[index].pending + [UInt8(ascii: "\n")])
            outputs[index].pending.removeAll()
        }
    }

    private func emit(_ index: Int, _ line: [UInt8]) {
        let output = outputs[index]
        writeAll(output.toStandardError ? 2 : 1, prefixOutput ? Array("[\(label) \(output.rank)] ".utf8) + line : line)
        if output.file >= 0 { writeAll(output.file, line) }
    }

    /// Writes every byte, retrying interrupted writes; gives up silently on a closed output.
    private func writeAll(_ descriptor: Int32, _ bytes: [UInt8]) {
        var offset = 0
        while offset < bytes.count {
            let n = bytes.withUnsafeBytes { write(descriptor, $0.baseAddress! + offset, $0.count - offset) }
            if n <= 0 {
                if errno == EINTR { continue }
                return
            }
            offset += n
        }
    }

    /// Closes an output's pipe, and its file.
    private func closeOutput(_ index: Int) {
        _ = close(outputs[index].descriptor)
        outputs[index].open = false
        if outputs[index].file >= 0 {
            _ = close(outputs[index].file)
            outputs[index].file = -1
        }
    }
}
