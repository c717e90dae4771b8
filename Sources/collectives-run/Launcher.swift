import ArgumentParser
import CollectivesRendezvous
import CollectivesSystem
import CommandLineSupport
import Synchronization

#if canImport(Glibc)
import Glibc
#endif

/// `collectives-run -n N [--] PROGRAM [ARGS…]`: starts N local ranks of PROGRAM, like
/// `torchrun --standalone`.
@main
struct Launcher: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "collectives-run",
        abstract: "Start N local ranks of a program, prefix their output with their rank, and stop them all if one fails.",
        discussion: """
        Each rank gets RANK, WORLD_SIZE, LOCAL_RANK, LOCAL_WORLD_SIZE, MASTER_ADDR and MASTER_PORT \
        as torchrun sets them; collectives-run serves the rendezvous store itself on that address \
        (a free port unless --master-port is given) and sets COLLECTIVES_STORE=external. When a rank exits with \
        an error or is killed, the others get --report seconds to notice and report it themselves, then \
        SIGTERM (then SIGKILL after --grace seconds), and collectives-run exits non-zero naming the \
        rank that failed first and how. Ctrl-C or SIGTERM reaches \
        every rank.
        """)

    @Option(name: [.customShort("n"), .customLong("nproc")], help: "Number of ranks to start.")
    var ranks: Int

    @Option(name: .customLong("master-addr"), help: "Address the launcher serves the rendezvous store on (MASTER_ADDR of the ranks).")
    var masterAddress = "127.0.0.1"

    @Option(name: .customLong("master-port"), help: "Port the launcher serves the rendezvous store on (default: a free port).")
    var masterPort: UInt16?

    @Option(name: .long, help: "Seconds the other ranks get to exit after SIGTERM before SIGKILL.")
    var grace: Double = 5

    @Option(name: .long, help: "Seconds the other ranks get, after one fails, to report the failure themselves before SIGTERM.")
    var report: Double = 2

    @Flag(name: .customLong("no-prefix"), help: "Do not prefix output lines with the rank.")
    var noPrefix = false

    @Argument(parsing: .captureForPassthrough, help: "The program and its arguments.")
    var command: [String] = []

    mutating func validate() throws {
        if command.first == "--" { command.removeFirst() }
        guard ranks >= 1 else { throw ValidationError("-n must be at least 1, got \(ranks)") }
        guard ranks <= 1024 else { throw ValidationError("-n \(ranks) is more local ranks than this launcher starts (1024)") }
        guard !command.isEmpty else { throw ValidationError("missing PROGRAM: collectives-run -n N [--] PROGRAM [ARGS...]") }
        guard grace >= 0 else { throw ValidationError("--grace must not be negative") }
        guard report >= 0 else { throw ValidationError("--report must not be negative") }
    }

    func run() throws {
        // The launcher serves the rendezvous store itself (standalone), so that it outlives
        // any rank and no rank races for the port.
        guard let address = SocketAddress(parsing: masterAddress, defaultPort: masterPort ?? 0) else {
            throw ValidationError("--master-addr \(masterAddress) is not a numeric address")
        }
        // Every connection of the job proves it knows this secret; make one if none was given.
        var environment = ProcessEnvironment.current()
        let secretText = environment["COLLECTIVES_JOB_SECRET"].flatMap { $0.isEmpty ? nil : $0 } ?? JobSecret.generate()
        environment["COLLECTIVES_JOB_SECRET"] = secretText
        var ports: PortRange?
        if let text = environment["COLLECTIVES_PORT_RANGE"], !text.isEmpty {
            guard let range = PortRange(text) else { throw ValidationError("COLLECTIVES_PORT_RANGE=\(text) is not lo-hi") }
            ports = range
        }
        let store: TCPStoreServer
        do {
            store = try TCPStoreServer(listeningOn: address, ports: ports, secret: JobSecret(secretText))
        } catch {
            Console.error("collectives-run: \(error)")
            throw ExitCode(1)
        }
        defer { store.close() }
        environment["MASTER_ADDR"] = masterAddress
        environment["MASTER_PORT"] = String(store.address.port)
        environment["COLLECTIVES_STORE"] = "external"
        if isatty(1) != 0 { environment["COLLECTIVES_STDOUT_IS_TERMINAL"] = "1" }
        environment["WORLD_SIZE"] = String(ranks)
        environment["LOCAL_WORLD_SIZE"] = String(ranks)
        let group = RankGroup(prefixOutput: !noPrefix, grace: grace, report: report)
        installSignalForwarding()
        for rank in 0..<ranks {
            environment["RANK"] = String(rank)
            environment["LOCAL_RANK"] = String(rank)
            do {
                try group.spawn(rank: rank, command: command, environment: environment)
            } catch {
                group.terminateAll()
                _ = group.waitForAll()
                throw error
            }
        }
        let outcome = group.waitForAll()
        if let failure = outcome {
            Console.error("collectives-run: \(failure.description)")
            throw ExitCode(failure.exitCode)
        }
    }

}

/// The signal that asked the launcher to stop (0 for none); set from the signal handler.
let stopSignal = Atomic<Int32>(0)

func installSignalForwarding() {
    for signalNumber in [SIGINT, SIGTERM, SIGHUP] {
        _ = signal(signalNumber) { received in stopSignal.store(received, ordering: .relaxed) }
    }
    _ = signal(SIGPIPE, SIG_IGN)
    // A parent may have started us with these blocked (signal masks survive exec).
    var stopping = sigset_t()
    sigemptyset(&stopping)
    for signalNumber in [SIGINT, SIGTERM, SIGHUP] { sigaddset(&stopping, signalNumber) }
    pthread_sigmask(SIG_UNBLOCK, &stopping, nil)
}
