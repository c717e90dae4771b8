import ArgumentParser
import CollectivesRendezvous
import CollectivesSystem
import CommandLineSupport
import Synchronization

/// `collectives-run -n N [--] PROGRAM [ARGS…]`: starts N local ranks of PROGRAM, like
/// `torchrun --standalone`; with `--hosts a:4,b:4` or `--hostfile FILE`, ranks on other hosts
/// through a launch agent (`ssh`), like `mpirun`.
@main
struct Launcher: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "collectives-run",
        abstract: "Start N ranks of a program, here or on several hosts, prefix their output with their rank, and stop them all if one fails.",
        discussion: """
        Each rank gets RANK, WORLD_SIZE, LOCAL_RANK, LOCAL_WORLD_SIZE, MASTER_ADDR and MASTER_PORT \
        as torchrun sets them; collectives-run serves the rendezvous store itself on that address \
        (a free port unless --master-port is given) and sets COLLECTIVES_STORE=external. When a rank exits with \
        an error or is killed, the others get --report seconds to notice and report it themselves, then \
        SIGTERM (then SIGKILL after --grace seconds), and collectives-run exits non-zero naming the \
        rank that failed first and how. Ctrl-C or SIGTERM reaches \
        every rank. With --elastic a rank that fails is reported and the others go on (a program \
        that uses Communicator.shrink continues without it); with --max M as well, ranks started \
        later by `collectives-run --join ADDR:PORT -- PROGRAM…` (same COLLECTIVES_JOB_SECRET) are \
        admitted at the job's next boundary (Communicator.admitJoining) until it has M ranks.

        Across hosts (--hosts, -H or --hostfile), ranks fill each host's slots in order; a rank on a host \
        other than this one (localhost, or this host's own names and addresses) starts as `AGENT HOST collectives-run --remote-rank -- PROGRAM…` \
        (AGENT is --launch-agent, by default `ssh -o BatchMode=yes`; this executable must be at the \
        same path on every host). Its environment (the job's variables, every COLLECTIVES_* including the secret, \
        OMP_NUM_THREADS, OPENBLAS_NUM_THREADS and -x names) goes over the agent's standard input, \
        never on a command line; it runs in this directory, with COLLECTIVES_HOST_ID set to its \
        host's name, and is stopped when the agent's connection closes.
        """,
        version: collectivesVersion)

    @Option(name: [.customShort("n"), .customLong("np", withSingleDash: true), .customLong("nproc")],
            help: "Number of ranks to start (default with --hosts or --hostfile: every slot; -np as mpirun spells it).")
    var ranks: Int?

    @Option(name: [.long, .customLong("host"), .customShort("H")],
            help: "Hosts and their slots, host[:slots] comma-separated (as mpirun's -H/--host). This host is localhost or any of its own names and addresses; its ranks start directly.")
    var hosts: String?

    @Flag(help: "Place more ranks than the hosts have slots: past the last slot, placement starts again from the first host (as mpirun's --oversubscribe).")
    var oversubscribe = false

    @Option(name: .customLong("bind-to"), help: "Pin each rank to a core (core: round robin over the cores the launcher may use, by local rank, as mpirun's --bind-to core) or not (none, the default).")
    var bindTo: CoreBinding = .none

    @Flag(name: .customLong("report-bindings"), help: "Say on standard error which core each rank is bound to.")
    var reportBindings = false

    @Option(name: .long, help: "A file of hosts, one host[:slots] or 'host slots=N' a line (as mpirun's --hostfile).")
    var hostfile: String?

    @Option(name: .customLong("launch-agent"), help: "Command that runs a command on a host, invoked as AGENT HOST COMMAND... (default: ssh -o BatchMode=yes, which fails instead of prompting).")
    var launchAgent = "ssh -o BatchMode=yes"

    @Option(name: .customShort("x"), help: "Also forward this environment variable to ranks on other hosts (NAME or NAME=VALUE; repeatable).")
    var exports: [String] = []

    @Option(name: .customLong("master-addr"), help: "Address the launcher serves the rendezvous store on (MASTER_ADDR of the ranks; default 127.0.0.1, or with other hosts this host's first address that COLLECTIVES_SOCKET_IFNAME admits, else its first non-loopback one).")
    var masterAddress: String?

    @Flag(name: .customLong("remote-rank"), help: .hidden)
    var remoteRank = false

    @Option(name: .customLong("master-port"), help: "Port the launcher serves the rendezvous store on (default: a free port).")
    var masterPort: UInt16?

    @Option(name: .long, help: "Seconds the other ranks get to exit after SIGTERM before SIGKILL.")
    var grace: Double = 5

    @Option(name: .long, help: "Seconds the other ranks get, after one fails, to report the failure themselves before SIGTERM.")
    var report: Double = 2

    @Flag(name: .customLong("no-prefix"), help: "Do not prefix output lines with the rank.")
    var noPrefix = false

    @Option(name: .customLong("output-filename"), help: "Also write each rank's standard output and error, unprefixed, to DIR/1/rank.N/stdout and DIR/1/rank.N/stderr (as mpirun's --output-filename); made if missing.")
    var outputFilename: String?

    @Flag(help: "A rank that fails does not stop the others (they may go on without it: Communicator.shrink); the job fails only if every rank failed or fewer than --min ranks finished. Sets COLLECTIVES_ELASTIC=1.")
    var elastic = false

    @Option(name: .customLong("min"), help: "With --elastic: the fewest ranks that must finish for the job to succeed (default 1).")
    var minRanks: Int = 1

    @Option(name: .customLong("max"), help: "With --elastic: ranks started later with --join may make the job this large (COLLECTIVES_ELASTIC_MAX; needs COLLECTIVES_JOB_SECRET set, which they must prove).")
    var maxRanks: Int?

    @Option(name: .customLong("join"), help: "Start -n ranks (default 1) that join the running elastic job whose launcher serves its store at ADDR:PORT (the job's MASTER_ADDR and MASTER_PORT), with the job's COLLECTIVES_JOB_SECRET; the job admits them at its next boundary. Fails if fewer than --min (default 1) of them finish.")
    var join: String?

    @Option(name: [.customLong("nproc-per-node"), .customLong("nproc_per_node")],
            help: "Per-node mode, as torchrun: start this node's K ranks (RANK = node rank × K + local rank); with --nnodes, --node-rank and --rdzv-endpoint one launcher per node.")
    var nprocPerNode: Int?

    @Option(name: .long, help: "Per-node mode: the number of nodes, each with a launcher of its own (default 1).")
    var nnodes: Int?

    @Option(name: [.customLong("node-rank"), .customLong("node_rank")], help: "Per-node mode: this node's number, 0 to --nnodes − 1 (default 0). Node 0 serves the job's store.")
    var nodeRank: Int?

    @Option(name: [.customLong("rdzv-endpoint"), .customLong("rdzv_endpoint")],
            help: "Per-node mode: HOST:PORT of node 0, where the launchers meet (within COLLECTIVES_TIMEOUT, default 600 s) and the ranks find the store. Every node needs the same COLLECTIVES_JOB_SECRET, if any.")
    var rdzvEndpoint: String?

    @Option(name: .customLong("log-dir"), help: "Also write each rank's output, unprefixed, to DIR/attempt_0/RANK/stdout.log and stderr.log (torchrun's file names, by global rank); made if missing.")
    var logDirectory: String?

    @Option(name: .customLong("tee"), help: "With --log-dir: which streams go to the files as well as to this terminal, as torchrun's --tee (1 stdout, 2 stderr, 3 both, the default; 0 none).")
    var tee: Int?

    @Flag(name: .customLong("dump-on-timeout"),
          help: "When a rank fails (a collective that times out ends its rank), ask every other rank here for its flight recorder (SIGUSR1) before stopping them, then say which rank is behind, on which call (as --analyze). SIGUSR1 to the launcher asks every rank here at any time.")
    var dumpOnTimeout = false

    @Option(name: .customLong("dump-dir"), help: "Where the ranks write flight-recorder dumps (COLLECTIVES_FLIGHT_RECORDER_DIR for them; default: that variable, else /tmp).")
    var dumpDirectory: String?

    @Option(name: .customLong("analyze"), help: "Read the flight-recorder dumps in DIR (collectives-flight-*.json, from every rank) and say, per communicator, which rank is behind, on which call, and what the others wait for; then exit.")
    var analyzeDirectory: String?

    @Flag(name: .customLong("help-environment"), help: "Print every COLLECTIVES_* variable the package reads, with its default and meaning (docs/environment.md), and exit.")
    var helpEnvironment = false

    @Argument(parsing: .captureForPassthrough, help: "The program and its arguments.")
    var command: [String] = []

    mutating func validate() throws {
        // The program's words are captured as they come, so help must be asked for here.
        if command.first == "--help" || command.first == "-h" { throw CleanExit.helpRequest(self) }
        if command.first == "--version" { throw CleanExit.message(collectivesVersion) }
        if command.first == "--" { command.removeFirst() }
        if analyzeDirectory != nil || helpEnvironment { return }
        guard !command.isEmpty else { throw ValidationError("missing PROGRAM: collectives-run -n N [--] PROGRAM [ARGS...]") }
        if remoteRank { return }
        try validatePerNode()
        try validateOutputFiles()
        if nodeLayout != nil { return }
        if let nprocPerNode { ranks = nprocPerNode }
        guard minRanks >= 1 else { throw ValidationError("--min must be at least 1") }
        if join != nil {
            guard hosts == nil, hostfile == nil, maxRanks == nil else { throw ValidationError("--join starts local ranks for a running job: no --hosts, --hostfile or --max") }
            guard joinAddress != nil else { throw ValidationError("--join takes the job's store as ADDR:PORT, such as 127.0.0.1:29500 or [::1]:29500") }
            guard (ranks ?? 1) >= 1 else { throw ValidationError("-n must be at least 1") }
            return
        }
        if let maxRanks {
            guard elastic else { throw ValidationError("--max is for --elastic jobs, which ranks may join") }
            guard maxRanks >= (ranks ?? 1) else { throw ValidationError("--max \(maxRanks) is smaller than -n \(ranks ?? 1)") }
            guard !(ProcessEnvironment.current()[EnvironmentVariable.jobSecret.name] ?? "").isEmpty else {
                throw ValidationError("--max: ranks joining later must prove the job's secret; set COLLECTIVES_JOB_SECRET (e.g. to `openssl rand -hex 32`) for this launcher and theirs")
            }
        }
        guard hosts == nil || hostfile == nil else { throw ValidationError("give --hosts or --hostfile, not both") }
        guard let ranks = ranks ?? (hosts == nil && hostfile == nil ? nil : 1) else { throw ValidationError("missing -n N (the number of ranks)") }
        guard ranks >= 1 else { throw ValidationError("-n must be at least 1, got \(ranks)") }
        guard ranks <= 1024 else { throw ValidationError("-n \(ranks) is more local ranks than this launcher starts (1024)") }
        guard grace >= 0 else { throw ValidationError("--grace must not be negative") }
        guard report >= 0 else { throw ValidationError("--report must not be negative") }
    }

    func run() throws {
        if helpEnvironment {
            print(EnvironmentVariable.markdownTable)
            return
        }
        if let analyzeDirectory { throw ExitCode(FlightReport.analyze(analyzeDirectory, since: 0) ? 0 : 1) }
        if remoteRank {
            throw ExitCode(RemoteRank.run(command: command, grace: grace, binding: bindTo, reportBindings: reportBindings))
        }
        if let (host, port) = joinAddress { return try runJoining(host: host, port: port) }
        if let layout = nodeLayout { return try runPerNode(layout) }
        // Where each rank runs: here, or on the hosts given.
        let placement: [String]?
        do {
            placement = try hostList()?.place(ranks: ranks ?? hostList()!.totalSlots, oversubscribe: oversubscribe)
        } catch {
            throw ValidationError("\(error)")
        }
        let ranks = placement?.count ?? self.ranks!
        let masterAddress = try self.masterAddress ?? defaultMasterAddress(placement: placement)
        var environment = ProcessEnvironment.current()
        let store = try serveStore(masterAddress, environment: &environment)
        defer { store.close() }
        pointRanks(&environment, atStore: masterAddress, port: store.address.port)
        if elastic { environment[EnvironmentVariable.elastic.name] = "1" }
        if let maxRanks {
            environment[EnvironmentVariable.elasticMaximum.name] = String(maxRanks)
            Console.error("collectives-run: --elastic --max \(maxRanks): more ranks may join with `collectives-run --join \(masterAddress.contains(":") ? "[\(masterAddress)]" : masterAddress):\(store.address.port) -- PROGRAM...` and this job's COLLECTIVES_JOB_SECRET")
        }
        environment["WORLD_SIZE"] = String(ranks)
        environment["LOCAL_WORLD_SIZE"] = String(ranks)
        let group = RankGroup(prefixOutput: !noPrefix, grace: grace, report: report, elastic: elastic,
                              files: outputFiles)
        group.flight = flightReport(&environment)
        try openOutputFiles(group, 0..<ranks)
        installSignalForwarding()
        try startRanks(ranks, placement: placement, environment: environment, in: group)
        let outcome = group.waitForAll()
        if elastic { return try endElastic(group, outcome: outcome, ranks: ranks, noun: "ranks") }
        if let failure = outcome {
            Console.error("collectives-run: \(failure.description)")
            throw ExitCode(failure.exitCode)
        }
    }

}

extension Launcher {
    /// `--join`'s store address, split into host and port (`[v6]:port` or `host:port`).
    var joinAddress: (String, UInt16)? { join.flatMap(HostList.hostAndPort) }

    /// Starts `-n` ranks that join the running job whose store is at `host:port`.
    func runJoining(host: String, port: UInt16) throws {
        var environment = ProcessEnvironment.current()
        guard !(environment[EnvironmentVariable.jobSecret.name] ?? "").isEmpty else {
            Console.error("collectives-run: --join: set COLLECTIVES_JOB_SECRET to the job's secret (its store refuses processes without it)")
            throw ExitCode(2)
        }
        for name in ["RANK", "WORLD_SIZE", "LOCAL_RANK", "LOCAL_WORLD_SIZE"] { environment[name] = nil }
        pointRanks(&environment, atStore: host, port: port)
        environment[EnvironmentVariable.elastic.name] = "1"
        environment[EnvironmentVariable.elasticJoin.name] = "1"
        let count = ranks ?? 1
        let group = RankGroup(prefixOutput: !noPrefix, grace: grace, report: report, elastic: true, label: "joining",
                              files: outputFiles)
        group.flight = flightReport(&environment)
        try openOutputFiles(group, 0..<count)
        installSignalForwarding()
        for index in 0..<count {
            try group.spawnOrStopAll(rank: index, command: command, environment: environment)
        }
        try endElastic(group, outcome: group.waitForAll(), ranks: count, noun: "joining ranks")
    }

    /// Opens the ranks' `--output-filename` files before any rank starts; a folder that cannot be
    /// written ends the launcher with an error naming it.
    func openOutputFiles(_ group: RankGroup, _ ranks: Range<Int>) throws {
        do {
            try group.openFiles(for: ranks)
        } catch {
            Console.error("collectives-run: \(logDirectory == nil ? "--output-filename" : "--log-dir") \(outputFiles?.directory ?? ""): \(error)")
            throw ExitCode(1)
        }
    }

    /// How an elastic group's run ends: it fails when the launcher stopped it (a signal), or when
    /// fewer than `--min` of its `ranks` finished.
    func endElastic(_ group: RankGroup, outcome: RankFailure?, ranks: Int, noun: String) throws {
        if let outcome, outcome.stoppedByLauncher {
            Console.error("collectives-run: \(outcome.description)")
            throw ExitCode(outcome.exitCode)
        }
        let finished = ranks - group.failures.count
        if finished < minRanks {
            Console.error("collectives-run: --elastic: \(finished) of \(ranks) \(noun) finished, fewer than --min \(minRanks)")
            throw ExitCode(group.failures.last?.exitCode ?? 1)
        }
    }

    /// The hosts of `--hosts` or `--hostfile`, if either was given.
    func hostList() throws -> HostList? {
        if let hosts { return try HostList(hosts: hosts) }
        guard let hostfile else { return nil }
        guard let text = FileSystem.text(of: hostfile) else { throw HostListError("cannot read --hostfile \(hostfile)") }
        return try HostList(hostfile: text, path: hostfile)
    }

    /// Loopback when every rank runs here; else this host's address on the interfaces that
    /// `COLLECTIVES_SOCKET_IFNAME` admits (by default any but loopback and docker's).
    func defaultMasterAddress(placement: [String]?) throws -> String {
        guard let placement, !placement.allSatisfy(HostList.isThisHost) else { return "127.0.0.1" }
        let text = ProcessEnvironment.current()[EnvironmentVariable.socketInterface.name].flatMap { $0.isEmpty ? nil : $0 } ?? "^lo,docker"
        guard let filter = InterfaceFilter(text), let (_, address) = filter.choose(from: try InterfaceFilter.systemInterfaces()) else {
            throw ValidationError("no interface of this host matches \(text) for the rendezvous store: give --master-addr")
        }
        return address.host
    }

    /// This executable's absolute path, which ranks on other hosts run as their far end.
    func executablePath() throws -> String {
        guard let path = FileSystem.linkTarget(of: "/proc/self/exe") else {
            throw ValidationError("cannot find this executable's path (/proc/self/exe)")
        }
        return path
    }

    func currentDirectory() -> String {
        FileSystem.currentDirectory() ?? "/"
    }
}

/// Tells the ranks where the job's store is (`MASTER_ADDR`, `MASTER_PORT`), that the launcher
/// serves it (`COLLECTIVES_STORE=external`), and whether the output is a terminal.
func pointRanks(_ environment: inout [String: String], atStore host: String, port: UInt16) {
    environment["MASTER_ADDR"] = host
    environment["MASTER_PORT"] = String(port)
    environment[EnvironmentVariable.store.name] = "external"
    if Descriptors.isTerminal(1) { environment[EnvironmentVariable.stdoutIsTerminal.name] = "1" }
}

/// `--report-bindings`' line for one rank.
func reportBinding(rank: String, pid: Int32, core: Int) {
    Console.error("collectives-run: rank \(rank) (pid \(pid) on \(thisHostName())) bound to core \(core)")
}

/// The signal that asked the launcher to stop (0 for none); set from the signal handler.
let stopSignal = Atomic<Int32>(0)
/// Set by `SIGUSR1` to the launcher: the ranks are asked for their flight recorders.
let dumpRequest = Atomic<Bool>(false)

func installSignalForwarding() {
    LauncherSignals.install(stop: { received in stopSignal.store(received, ordering: .relaxed) },
                            flightRecorderRequest: { _ in dumpRequest.store(true, ordering: .relaxed) })
}
