import CollectivesTestSupport
import CCollectivesShim
import CollectivesSystem
import FoundationEssentials
import Synchronization
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// The built executables, found next to the test bundle.
enum Products {
    static let directory: String = {
        var path = CommandLine.arguments[0]
        // .../.build/<triple>/<config>/swift-collectivesPackageTests.xctest (a file or a bundle)
        while !path.isEmpty {
            path = String(path[..<(path.lastIndex(of: "/") ?? path.startIndex)])
            if access(path + "/collectives-run", X_OK) == 0 { return path }
        }
        return ".build/debug"
    }()

    static func path(_ name: String) -> String { directory + "/" + name }
}

/// Whether this machine shows an RDMA device to user space.
func rdmaDevicePresent() -> Bool {
    guard let directory = opendir("/sys/class/infiniband") else { return false }
    defer { closedir(directory) }
    while let entry = readdir(directory) {
        let name = withUnsafePointer(to: entry.pointee.d_name) { $0.withMemoryRebound(to: CChar.self, capacity: 256) { String(cString: $0) } }
        if !name.hasPrefix(".") { return true }
    }
    return false
}

/// What a finished process printed and how it ended.
/// What a test needs of the machine: it runs where that is there, and always under CI
/// (`CI=true`), whose set-up (scripts/setup.sh --for-tests, root) must provide it, so a missing
/// capability fails there instead of being skipped. A test never passes by returning early.
enum Capability {
    static var underCI: Bool { ProcessEnvironment.current()["CI"] == "true" }
    static var root: Bool { getuid() == 0 }
    static func tool(_ name: String) -> Bool {
        ["/usr/bin/", "/usr/sbin/", "/bin/", "/sbin/"].contains { access($0 + name, X_OK) == 0 }
    }
    /// Network namespaces, veth pairs, bridges and `tc`: root and iproute2.
    static var namespaces: Bool { root && tool("ip") && tool("tc") }
    static var mpirun: Bool { access("/usr/bin/mpirun", X_OK) == 0 }
    /// MPICH's launcher.
    static var hydra: Bool { access("/usr/bin/mpiexec.hydra", X_OK) == 0 }
    /// OpenSSH's server and client (Debian's openssh-server).
    static var sshd: Bool { access("/usr/sbin/sshd", X_OK) == 0 && tool("ssh") && tool("ssh-keygen") }
    static let slurmTools = ["srun", "sinfo", "slurmctld", "slurmd", "munged"]
    static var slurm: Bool { root && slurmTools.allSatisfy(tool) }

    /// Enabled where `available`, and under CI whatever it is.
    static func required(_ available: Bool, _ reason: Comment) -> ConditionTrait {
        .enabled(if: available || underCI, reason)
    }
}

/// The checks `collectives-check --collectives all` makes, computed here from its arguments (not
/// by the program): every count, once per algorithm for all-reduce; reduce, reduce-scatter and
/// split once per operation that applies to each type (`opsPerType`); the seven others
/// (broadcast, all-gather, all-to-all, gather, scatter, barrier, send-receive) once per type; twice
/// with `--out-of-place`.
func allCollectivesChecks(algorithms: Int = 1, counts: Int, opsPerType: [Int], outOfPlace: Bool = false) -> Int {
    let reductions = opsPerType.reduce(0, +)
    return counts * (outOfPlace ? 2 : 1) * (algorithms * reductions + 3 * reductions + 7 * opsPerType.count)
}

/// Checks that each of `ranks` ranks printed its summary line, `rank r of n: N passed, 0 failed`,
/// with exactly the `passed` checks expected (a run that silently did fewer checks fails).
func expectSummaries(_ output: String, rank only: Int? = nil, ranks: Int, passed: Int, sourceLocation: SourceLocation = #_sourceLocation) {
    for rank in only.map({ [$0] }) ?? Array(0..<ranks) {
        let line = "rank \(rank) of \(ranks): \(passed) passed, 0 failed"
        let found = output.split(separator: "\n").contains { $0.hasSuffix(line) }
        #expect(found, "no line ending in \"\(line)\" in:\n\(output)", sourceLocation: sourceLocation)
    }
}

struct Finished {
    var status: Int32
    var output: String
}

/// Runs a command with extra environment variables, killing it after `timeout` seconds.
func run(_ arguments: [String], environment: [String: String] = [:], timeout: Double = 120) throws -> Finished {
    var env = ProcessEnvironment.current()
    for key in ["RANK", "WORLD_SIZE", "MASTER_ADDR", "MASTER_PORT", "LOCAL_RANK"] { env[key] = nil }
    for (k, v) in environment { env[k] = v }
    let command = ["/usr/bin/timeout", "-k", "5", String(Int(timeout))] + arguments
    var pipeFDs: [Int32] = [0, 0]
    // Close-on-exec, so that processes started at the same time by other threads do not
    // inherit this one's pipe (and hold its output open).
    guard collectives_pipe_cloexec(&pipeFDs) == 0 else { throw SystemError(call: "pipe2", errno: errno) }
    var actions = posix_spawn_file_actions_t()
    posix_spawn_file_actions_init(&actions)
    defer { posix_spawn_file_actions_destroy(&actions) }
    posix_spawn_file_actions_adddup2(&actions, pipeFDs[1], 1)
    posix_spawn_file_actions_adddup2(&actions, pipeFDs[1], 2)
    posix_spawn_file_actions_addclose(&actions, pipeFDs[0])
    posix_spawn_file_actions_addclose(&actions, pipeFDs[1])
    let argv = command.map { strdup($0) } + [nil]
    let envp = env.map { strdup("\($0.key)=\($0.value)") } + [nil]
    defer { argv.forEach { free($0) }; envp.forEach { free($0) } }
    var pid: pid_t = 0
    let rc = posix_spawn(&pid, command[0], &actions, nil, argv, envp)
    _ = close(pipeFDs[1])
    guard rc == 0 else { throw SystemError(call: "posix_spawn", errno: rc) }
    var output: [UInt8] = []
    var buffer = [UInt8](repeating: 0, count: 65536)
    while true {
        let n = buffer.withUnsafeMutableBytes { read(pipeFDs[0], $0.baseAddress, $0.count) }
        if n > 0 { output += buffer[0..<n] } else if n == 0 || errno != EINTR { break }
    }
    _ = close(pipeFDs[0])
    var status: Int32 = 0
    while waitpid(pid, &status, 0) < 0 && errno == EINTR {}
    let code = status & 0x7f == 0 ? (status >> 8) & 0xff : 128 + (status & 0x7f)
    return Finished(status: code, output: String(decoding: output, as: UTF8.self))
}

/// Real processes over real TCP sockets, started by the launcher.
/// One run of every collective across processes per transport: TCP, shared memory, and shared
/// memory inside two emulated hosts with TCP across (`COLLECTIVES_HOST_ID`, routed). The fast
/// tier (`scripts/test.sh --fast`) runs these and no other process tests.
@Suite(.serialized) struct QuickProcessTests {
    @Test(arguments: ["tcp", "shm", "routed"])
    func everyCollectiveOverOneTransport(transport: String) throws {
        let check = Products.path("collectives-check")
        let arguments = "--collectives all --counts 0 2 1001 70001 --types float32 int32 --ops sum max"
        let command = transport == "routed"
            ? ["/bin/sh", "-c", "COLLECTIVES_HOST_ID=h$((RANK % 2)) exec \(check) \(arguments)"]
            : [check] + arguments.split(separator: " ").map(String.init)
        var environment = ["COLLECTIVES_TIMEOUT": "60", "COLLECTIVES_LOG_LEVEL": "debug"]
        if transport != "routed" { environment["COLLECTIVES_TRANSPORT"] = transport }
        let result = try run([Products.path("collectives-run"), "-n", "4", "--"] + command, environment: environment, timeout: 300)
        #expect(result.status == 0, "\(result.output)")
        expectSummaries(result.output, ranks: 4, passed: allCollectivesChecks(counts: 4, opsPerType: [2, 2]))
        switch transport {
        case "routed": #expect(result.output.contains("rank 0: shared memory with ranks [2] on this host, TCP with ranks [1, 3]"), "\(result.output)")
        default: #expect(result.output.contains("connected (\(transport))"), "\(result.output)")
        }
    }
}

@Suite(.serialized) struct MultiProcessTests {
    @Test(arguments: [2, 3, 4])
    func launcherRunsTheCheckProgram(ranks: Int) throws {
        let result = try run([Products.path("collectives-run"), "-n", String(ranks), Products.path("collectives-check")],
                             environment: ["COLLECTIVES_TIMEOUT": "60"], timeout: 600)
        #expect(result.status == 0, "\(result.output)")
        for rank in 0..<ranks {
            #expect(result.output.contains("[rank \(rank)] rank \(rank) of \(ranks): 438 passed, 0 failed"), "\(result.output)")
        }
    }

    @Test func asyncAPIAcrossProcesses() throws {
        let result = try run([Products.path("collectives-run"), "-n", "3", "--", Products.path("collectives-check"),
                              "--async", "--counts", "0", "2", "1001", "--types", "float32", "int32"],
                             environment: ["COLLECTIVES_TIMEOUT": "60"])
        #expect(result.status == 0, "\(result.output)")
        #expect(result.output.split(separator: "\n").filter { $0.hasSuffix("39 passed, 0 failed") }.count == 3, "\(result.output)")
    }

    /// Every collective and every forced all-reduce algorithm between real processes, over TCP
    /// and over shared memory (where one-shot runs on the board; over TCP as recursive doubling), in place and out of place, on counts that are zero, below the
    /// world size, not divisible, and (below 13 ranks) past the switch to pipelined chains.
    @Test(arguments: [2, 3, 4, 8, 13], ["tcp", "shm"])
    func everyCollectiveAndAlgorithmAcrossProcesses(ranks: Int, transport: String) throws {
        var counts = ["0", "1", String(ranks - 1), "1001"]
        if ranks < 13 { counts.append("70001") }
        let result = try run([Products.path("collectives-run"), "-n", String(ranks), "--", Products.path("collectives-check"),
                              "--collectives", "all", "--algorithms", "ring", "tree", "recursive-doubling", "rabenseifner", "central", "one-shot", "auto",
                              "--counts"] + counts + ["--types", "float32", "int64", "--ops", "sum", "average", "max", "--out-of-place"],
                             environment: ["COLLECTIVES_TIMEOUT": "60", "COLLECTIVES_TRANSPORT": transport,
                                           "COLLECTIVES_LOG_LEVEL": "debug"], timeout: 600)
        #expect(result.status == 0, "\(result.output)")
        // float32 and int64 both take sum, average and max.
        expectSummaries(result.output, ranks: ranks, passed: allCollectivesChecks(algorithms: 7, counts: counts.count, opsPerType: [3, 3], outOfPlace: true))
        #expect(result.output.contains("connected (\(transport))"), "the job did not run over \(transport)")
    }

    /// Ranks in separate PID namespaces that share `/dev/shm` and say the same
    /// `COLLECTIVES_HOST_ID` do not set up shared memory (it names ranks by pid: liveness, single
    /// copy and stale segments would all read foreign pids): they count as two hosts and talk
    /// over TCP, with right results. Before, they shared memory across the namespaces.
    @Test(Capability.required(Capability.root && Capability.tool("unshare"), "needs root and unshare(1) to start a rank in a PID namespace of its own"))
    func ranksInSeparatePIDNamespacesDoNotShareMemory() throws {
        let directory = "/tmp/collectives-pidns-\(getpid())"
        _ = mkdir(directory, 0o755)
        defer { _ = system("rm -rf '\(directory)'") }
        let wrapper = try writeScript(directory + "/rank.sh", "if [ \"$RANK\" = 1 ]; then exec /usr/bin/unshare --pid --fork \"$@\"; else exec \"$@\"; fi")
        let result = try run([Products.path("collectives-run"), "-n", "2", "--", wrapper, Products.path("collectives-check"),
                              "--collectives", "all-reduce", "--counts", "0", "3", "1001", "--types", "float32", "--ops", "sum"],
                             environment: ["COLLECTIVES_TIMEOUT": "60", "COLLECTIVES_HOST_ID": "one-host", "COLLECTIVES_LOG_LEVEL": "debug"])
        #expect(result.status == 0, "\(result.output)")
        expectSummaries(result.output, ranks: 2, passed: 3)
        #expect(result.output.contains("rank 0: 1 ranks on this host (host 0 of 2)"), "\(result.output)")
        #expect(result.output.contains("rank 1: 1 ranks on this host (host 1 of 2)"), "\(result.output)")
    }

    /// The collectives over RDMA verbs, where a device exists; skipped (saying why) elsewhere.
    @Test(.enabled(if: rdmaDevicePresent(), "no RDMA device on this machine (no /sys/class/infiniband entries): the verbs transport is checked over in-memory queue pairs instead"))
    func everyCollectiveOverVerbs() throws {
        let result = try run([Products.path("collectives-run"), "-n", "3", "--", Products.path("collectives-check"),
                              "--collectives", "all", "--counts", "0", "1", "1001", "70001", "--types", "float32", "int64", "--ops", "sum", "max"],
                             environment: ["COLLECTIVES_TIMEOUT": "60", "COLLECTIVES_TRANSPORT": "verbs", "COLLECTIVES_LOG_LEVEL": "debug"], timeout: 600)
        #expect(result.status == 0, "\(result.output)")
        #expect(result.output.contains("connected (verbs)"), "\(result.output)")
    }

    @Test(.enabled(if: !rdmaDevicePresent(), "an RDMA device exists: the fallback is not what runs here"))
    func verbsWithoutADeviceFallsBackToTCPWithOneLine() throws {
        let result = try run([Products.path("collectives-run"), "-n", "3", "--", Products.path("collectives-check"),
                              "--counts", "1", "1001", "--types", "float32", "--ops", "sum"],
                             environment: ["COLLECTIVES_TRANSPORT": "verbs", "COLLECTIVES_LOG_LEVEL": "debug", "COLLECTIVES_TIMEOUT": "60"])
        #expect(result.status == 0, "\(result.output)")
        let lines = result.output.split(separator: "\n").filter { $0.contains("COLLECTIVES_TRANSPORT=verbs:") }
        #expect(lines.count == 1, "\(result.output)")
        #expect(lines.first?.contains("using TCP") == true)
        #expect(result.output.contains("connected (tcp)"), "\(result.output)")
    }

    /// Ranks that call differently fail fast, each naming both calls (or the peer that failed
    /// first), instead of hanging until the timeout.
    @Test(arguments: ["count", "type", "op", "collective", "root", "algorithm",
                      "one-shot-count", "one-shot-collective", "one-shot-algorithm"], ["tcp", "shm"])
    func mismatchedCallsFailFastOnEveryRank(what: String, transport: String) throws {
        let start = Deadline.now
        let result = try run([Products.path("collectives-run"), "-n", "3", "--", Products.path("collectives-check"), "--mismatch", what],
                             environment: ["COLLECTIVES_TIMEOUT": "60", "COLLECTIVES_TRANSPORT": transport])
        #expect(result.status != 0)
        #expect(Deadline.now.uptimeNanoseconds - start.uptimeNanoseconds < 20_000_000_000, "took too long: \(result.output)")
        let failed = result.output.split(separator: "\n").filter { $0.contains("] rank ") && $0.contains(" failed: ") }
        #expect(failed.count == 3, "\(result.output)")
        #expect(result.output.contains("ranks called different collectives: rank "), "\(result.output)")
    }

    /// A rank killed in the middle of large all-reduces: the others fail within seconds, each
    /// naming the killed rank (a survivor that sees another close learns from the failure record
    /// that one left in the store that it had failed because of rank 1), and the launcher says
    /// which rank died first and how.
    /// (`shm one-shot`: 8-byte all-reduces on the shared-memory board, where no message is in
    /// flight to notice the loss.)
    @Test(arguments: ["tcp", "shm", "shm one-shot"])
    func aKilledRankIsNamedByTheOthers(setting: String) throws {
        let start = Deadline.now
        let bench = Products.path("collectives-bench")
        let transport = String(setting.prefix { $0 != " " })
        let sizes = setting.hasSuffix("one-shot") ? "-b 8 -e 8 -n 100000000 --algorithm one-shot" : "-b 16M -e 16M -n 100000"
        let script = "if [ \"$RANK\" = 1 ]; then (sleep 2; kill -9 $$) & fi; exec \(bench) \(sizes) -w 0 -c 0"
        let result = try run([Products.path("collectives-run"), "-n", "3", "--", "/bin/sh", "-c", script],
                             environment: ["COLLECTIVES_TIMEOUT": "120", "COLLECTIVES_TRANSPORT": transport], timeout: 120)
        let seconds = Double(Deadline.now.uptimeNanoseconds - start.uptimeNanoseconds) / 1e9
        #expect(result.status == 137, "\(result.output)")
        #expect(result.output.contains("rank 1 was killed by signal 9 (SIGKILL)"), "\(result.output)")
        let lines = result.output.split(separator: "\n")
        func names(_ survivor: Int, _ gone: Int) -> Bool {
            lines.contains { $0.hasPrefix("[rank \(survivor)]") && $0.contains("rank \(gone)") && ($0.contains("died") || $0.contains("closed")) }
        }
        // Each survivor names rank 1: directly, or as the rank a peer that closed had failed because of.
        #expect(names(0, 1), "rank 0 did not name rank 1: \(result.output)")
        #expect(names(2, 1), "rank 2 did not name rank 1: \(result.output)")
        #expect(seconds < 30, "took \(seconds) s")
    }

    @Test func sigtermToTheLauncherStopsEveryRankWithinSeconds() throws {
        let marker = "/tmp/collectives-sigterm-\(getpid())"
        defer { _ = system("rm -f \(marker)-*") }
        let start = Deadline.now
        // The launcher writes its own pid; each rank writes its pid, then sleeps.
        let script = "echo $$ > \(marker)-$RANK; exec sleep 300"
        let killer = SystemThread(name: "killer") {
            sleepSeconds(2)
            // The launcher itself, not the timeout(1) wrapping it.
            _ = system("kill -TERM $(pgrep -f '^[^ ]*collectives-run -n 3 -- /bin/sh -c echo' | head -1)")
        }
        let result = try run([Products.path("collectives-run"), "-n", "3", "--", "/bin/sh", "-c", script], timeout: 60)
        killer.join()
        #expect(result.status == 143, "\(result.output)")
        #expect(result.output.contains("stopped every rank after signal 15 (SIGTERM)"), "\(result.output)")
        #expect(Deadline.now.uptimeNanoseconds - start.uptimeNanoseconds < 20_000_000_000)
        for rank in 0..<3 {
            guard let file = fopen("\(marker)-\(rank)", "r") else { Issue.record("rank \(rank) never started"); continue }
            var pid: Int32 = 0
            _ = withUnsafeMutablePointer(to: &pid) { pointer in withVaList([pointer]) { vfscanf(file, "%d", $0) } }
            fclose(file)
            #expect(pid > 0 && kill(pid, 0) != 0, "rank \(rank) (pid \(pid)) is still running")
        }
    }

    /// A rank that never arrives: the others time out naming it, from the progress every rank
    /// publishes to the store.
    @Test func aTimeoutNamesTheRanksThatNeverArrived() throws {
        let result = try run([Products.path("collectives-run"), "-n", "3", "--", Products.path("collectives-check"), "--mismatch", "stall"],
                             environment: ["COLLECTIVES_TIMEOUT": "3"], timeout: 60)
        #expect(result.status != 0)
        let diagnosed = result.output.split(separator: "\n").filter {
            $0.contains("all-reduce #2") && $0.contains("timed out") && $0.contains("ranks that have not reached it: rank 1 (last reached #1)")
        }
        #expect(diagnosed.count >= 1, "\(result.output)")
        // The same as data, for programs that react to it.
        #expect(result.output.contains("the error's missing ranks: [1]"), "\(result.output)")
    }

    /// Rank 1 of 2 reaches an all-reduce three timeouts late (the scenario of docs/errors.md):
    /// rank 0's all-reduce times out, rank 1's finds rank 0 gone, and on both the next call
    /// (a barrier) throws the same error at once; the freed buffers are never written. Over TCP,
    /// shared memory, and verbs falling back to TCP (no device here).
    @Test(arguments: ["tcp", "shm", "verbs"])
    func aRankArrivingLateFailsTheCommunicatorOnEveryRank(transport: String) throws {
        let result = try run([Products.path("collectives-run"), "-n", "2", "--", Products.path("collectives-check"), "--mismatch", "late"],
                             environment: ["COLLECTIVES_TIMEOUT": "2", "COLLECTIVES_TRANSPORT": transport], timeout: 90)
        #expect(result.status == 0, "\(result.output)")
        let lines = result.output.split(separator: "\n")
        #expect(lines.contains { $0.hasPrefix("[rank 0] rank 0: all-reduce failed: ") && $0.contains("timed out") }, "\(result.output)")
        #expect(lines.contains { $0.hasPrefix("[rank 1] rank 1: all-reduce failed: ") && $0.contains("rank 0") }, "\(result.output)")
        for rank in 0..<2 {
            #expect(lines.contains { $0.hasPrefix("[rank \(rank)] rank \(rank): barrier failed in ") && $0.hasSuffix("with the same error") },
                    "\(result.output)")
        }
    }

    /// Single copy between processes (process_vm_readv from the sender's buffer) for every
    /// message of 4 KiB or more: every collective still gives the reference results, and the
    /// ranks say it is on.
    @Test func singleCopyAcrossProcesses() throws {
        let result = try run([Products.path("collectives-run"), "-n", "3", "--", Products.path("collectives-check"),
                              "--collectives", "all", "--algorithms", "ring", "tree", "--counts", "0", "2", "1001", "70001",
                              "--types", "float32", "--ops", "sum", "--out-of-place"],
                             environment: ["COLLECTIVES_TIMEOUT": "60", "COLLECTIVES_TRANSPORT": "shm", "COLLECTIVES_SHM_SINGLE_COPY_BYTES": "4096",
                                           "COLLECTIVES_LOG_LEVEL": "debug"], timeout: 300)
        #expect(result.status == 0, "\(result.output)")
        expectSummaries(result.output, ranks: 3, passed: allCollectivesChecks(algorithms: 2, counts: 4, opsPerType: [1], outOfPlace: true))
        #expect(result.output.contains("single copy from 4096 bytes on"), "\(result.output)")
    }

    /// `COLLECTIVES_TIMEOUT=1e10` is a deadline of never: every collective works with it.
    @Test(arguments: ["tcp", "shm"])
    func anInfiniteTimeoutWorks(transport: String) throws {
        let result = try run([Products.path("collectives-run"), "-n", "3", "--", Products.path("collectives-check"),
                              "--collectives", "all", "--counts", "0", "2", "1001", "100003", "--types", "float32"],
                             environment: ["COLLECTIVES_TIMEOUT": "1e10", "COLLECTIVES_TRANSPORT": transport], timeout: 300)
        #expect(result.status == 0, "\(result.output)")
        // float32 takes 5 of the 8 operations (not the bitwise ones).
        expectSummaries(result.output, ranks: 3, passed: allCollectivesChecks(counts: 4, opsPerType: [5]))
    }

    @Test func anUnknownTransportIsNamed() throws {
        let result = try run([Products.path("collectives-run"), "-n", "2", "--", Products.path("collectives-check"), "--counts", "1"],
                             environment: ["COLLECTIVES_TRANSPORT": "carrier-pigeon"])
        #expect(result.status != 0)
        #expect(result.output.contains("COLLECTIVES_TRANSPORT=\"carrier-pigeon\" is invalid"), "\(result.output)")
    }

    @Test func aFailingRankStopsTheJobAndIsNamed() throws {
        let start = Deadline.now
        let result = try run([Products.path("collectives-run"), "-n", "3", "--", "/bin/sh", "-c",
                              "if [ \"$RANK\" = 1 ]; then exit 7; fi; sleep 60"])
        #expect(result.status == 7, "\(result.output)")
        #expect(result.output.contains("rank 1 exited with status 7"), "\(result.output)")
        #expect(Deadline.now.uptimeNanoseconds - start.uptimeNanoseconds < 30_000_000_000)
    }

    @Test func aKilledRankIsNamedWithItsSignal() throws {
        let result = try run([Products.path("collectives-run"), "-n", "2", "--", "/bin/sh", "-c",
                              "if [ \"$RANK\" = 0 ]; then kill -9 $$; fi; sleep 60"])
        #expect(result.status == 137, "\(result.output)")
        #expect(result.output.contains("rank 0 was killed by signal 9 (SIGKILL)"), "\(result.output)")
    }

    @Test func outputIsPrefixedWithTheRank() throws {
        let result = try run([Products.path("collectives-run"), "-n", "2", "--", "/bin/sh", "-c", "echo hello $RANK of $WORLD_SIZE"])
        #expect(result.status == 0)
        #expect(result.output.contains("[rank 0] hello 0 of 2"))
        #expect(result.output.contains("[rank 1] hello 1 of 2"))
    }

    @Test func aMissingVariableIsNamed() throws {
        let result = try run([Products.path("collectives-check")], environment: ["RANK": "0", "MASTER_ADDR": "127.0.0.1"])
        #expect(result.status != 0)
        #expect(result.output.contains("WORLD_SIZE"), "\(result.output)")
    }

    @Test func aMasterThatNeverComesUpTimesOut() throws {
        let start = Deadline.now
        let result = try run([Products.path("collectives-check")],
                             environment: ["RANK": "1", "WORLD_SIZE": "2", "MASTER_ADDR": "127.0.0.1",
                                           "MASTER_PORT": "9", "COLLECTIVES_TIMEOUT": "2"])
        #expect(result.status != 0)
        #expect(result.output.contains("timed out"), "\(result.output)")
        #expect(Deadline.now.uptimeNanoseconds - start.uptimeNanoseconds < 20_000_000_000)
    }

    @Test func badLauncherFlagsAreExplained() throws {
        let result = try run([Products.path("collectives-run"), "-n", "0", "true"])
        #expect(result.status != 0)
        #expect(result.output.contains("-n must be at least 1"), "\(result.output)")
    }

    @Test func benchmarkPrintsTheTable() throws {
        let result = try run([Products.path("collectives-run"), "-n", "2", "--", Products.path("collectives-bench"),
                              "-b", "8", "-e", "4K", "-f", "8", "-n", "2", "-w", "1"],
                             environment: ["COLLECTIVES_TIMEOUT": "60"])
        #expect(result.status == 0, "\(result.output)")
        let rows = result.output.split(separator: "\n").filter { $0.hasPrefix("[rank 0]  ") }
        #expect(rows.count == 4, "\(result.output)")  // 8, 64, 512, 4096
        // size count type redop root | time algbw busbw #wrong (out of place) | the same in place
        for row in rows {
            let fields = row.split(separator: " ").dropFirst(2)
            #expect(fields.count == 13, "\(row)")
            #expect(fields[fields.startIndex + 8] == "0" && fields.last == "0", "\(row)")
        }
        #expect(result.output.contains("out-of-place") && result.output.contains("in-place"))
        #expect(result.output.contains("# Avg bus bandwidth"))
    }

    @Test(arguments: ["all-gather", "reduce-scatter", "broadcast", "reduce", "all-to-all"])
    func benchmarkRunsEveryCollective(collective: String) throws {
        let result = try run([Products.path("collectives-run"), "-n", "3", "--", Products.path("collectives-bench"), collective,
                              "-b", "8", "-e", "100K", "-f", "32", "-n", "2", "-w", "1", "-d", "int32"],
                             environment: ["COLLECTIVES_TIMEOUT": "60"])
        #expect(result.status == 0, "\(result.output)")
        let rows = result.output.split(separator: "\n").filter { $0.hasPrefix("[rank 0]  ") }
        #expect(rows.count == 3, "\(result.output)")  // 8 (rounded up to a block per rank), 256, 8192
        #expect(result.output.contains("# Out of bounds values : 0 OK"), "\(result.output)")
    }

    @Test func theBenchmarkCheckCatchesACorruptedResult() throws {
        let result = try run([Products.path("collectives-run"), "-n", "2", "--", Products.path("collectives-bench"),
                              "-b", "1K", "-e", "1K", "-n", "1", "-w", "0", "--corrupt-rank", "1"],
                             environment: ["COLLECTIVES_TIMEOUT": "60"])
        #expect(result.status != 0, "\(result.output)")
        let row = result.output.split(separator: "\n").first { $0.hasPrefix("[rank 0]  ") }
        #expect(row?.hasSuffix(" 1") == true, "\(result.output)")
        #expect(result.output.contains("# Out of bounds values : 2 FAILED"), "\(result.output)")
    }

    @Test func benchmarkSweepWritesJSONCSVAndAPlot() throws {
        let directory = "/tmp/collectives-bench-\(getpid())"
        _ = mkdir(directory, 0o755)
        defer { _ = system("rm -rf '\(directory)'") }
        let result = try run([Products.path("collectives-run"), "-n", "3", "--", Products.path("collectives-bench"),
                              "--sweep-algorithms", "--probe", "-b", "8", "-e", "64K", "-f", "64", "-n", "2", "-w", "1",
                              "--json", directory + "/r.json", "--csv", directory + "/r.csv", "--plot", directory + "/r.svg"],
                             environment: ["COLLECTIVES_TIMEOUT": "60"])
        #expect(result.status == 0, "\(result.output)")
        #expect(result.output.contains("# probe: ring-neighbour latency"), "\(result.output)")
        let rows = result.output.split(separator: "\n").filter { $0.hasPrefix("[rank 0]  ") }
        #expect(rows.count == 3, "\(result.output)")  // 8, 512, 32768
        let csv = try TrainingProcessTests().readFile(directory + "/r.csv").split(separator: "\n")
        let algorithms = ["ring", "tree", "recursive-doubling", "rabenseifner", "one-shot", "central", "auto"]
        #expect(csv.count == 1 + 3 * algorithms.count, "\(csv)")
        for algorithm in algorithms {
            #expect(csv.contains { $0.hasPrefix("all-reduce,\(algorithm),in-place,512,128,float32,sum") }, "\(algorithm)")
        }
        // The JSON parses, with the probe, the context and one entry per size and algorithm.
        struct Document: Decodable {
            struct Probe: Decodable { var latency_us: Double; var link_gbps: Double }
            struct Entry: Decodable { var algorithm: String; var size_bytes: Int; var busbw_gbps: Double; var wrong: Int? }
            var ranks: String
            var probe: Probe
            var results: [Entry]
        }
        let json = try TrainingProcessTests().readFile(directory + "/r.json")
        let document = try JSONDecoder().decode(Document.self, from: Data(json.utf8))
        #expect(document.ranks == "3" && document.probe.latency_us > 0 && document.results.count == 3 * algorithms.count)
        #expect(document.results.allSatisfy { $0.wrong == 0 && $0.busbw_gbps > 0 }, "\(json)")
        let svg = try TrainingProcessTests().readFile(directory + "/r.svg")
        #expect(svg.hasPrefix("<svg") && svg.contains("recursive-doubling") && svg.contains("<polyline"))
    }

    /// nccl-tests' spellings of the operations work too.
    @Test func benchmarkTakesNcclTestsOperationNames() throws {
        for (spelling, name) in [("avg", "average"), ("prod", "product")] {
            let result = try run([Products.path("collectives-run"), "-n", "2", "--", Products.path("collectives-bench"),
                                  "-o", spelling, "-b", "1K", "-e", "1K", "-n", "1", "-w", "0"],
                                 environment: ["COLLECTIVES_TIMEOUT": "60"])
            #expect(result.status == 0, "\(result.output)")
            #expect(result.output.contains("float32 \(name)") || result.output.contains("float32  \(name)"), "\(result.output)")
        }
    }

    /// nccl-tests' habits: its type names and `-d all`, `-o all`, `-r`, `-i`, `-a`, its
    /// collective names, the gather, scatter and sendrecv benchmarks with its bus-bandwidth
    /// factors, and a header line per rank.
    @Test func benchmarkSpeaksNcclTests() throws {
        let bench = [Products.path("collectives-run"), "-n", "3", "--", Products.path("collectives-bench")]
        let small = ["-n", "1", "-w", "0"]
        let everything = try run(bench + ["-d", "all", "-o", "all", "-b", "96", "-e", "96"] + small, environment: ["COLLECTIVES_TIMEOUT": "60"])
        #expect(everything.status == 0, "\(everything.output)")
        // Floating types take sum, product, min, max, average; integers those and the three
        // bitwise ones; Bool min, max and the bitwise ones.
        let rows = everything.output.split(separator: "\n").filter { $0.hasPrefix("[rank 0]  ") }
        #expect(rows.count == 4 * 5 + 6 * 8 + 5, "\(rows.count) rows: \(everything.output)")
        #expect(everything.output.contains("# Out of bounds values : 0 OK"), "\(everything.output)")
        let ranks = everything.output.split(separator: "\n").filter { $0.hasPrefix("[rank 0] #  Rank ") }
        #expect(ranks.count == 3 && ranks.allSatisfy { $0.contains(" Pid ") && $0.contains(" transport ") }, "\(everything.output)")
        for rank in 0..<3 { #expect(ranks.contains { $0.split(separator: " ")[4] == "\(rank)" }, "\(ranks)") }
        for (name, type) in [("half", "float16"), ("double", "float64"), ("int", "int32"), ("bfloat16", "bfloat16"), ("uint8", "uint8")] {
            let one = try run(bench + ["-d", name, "-b", "1K", "-e", "1K"] + small, environment: ["COLLECTIVES_TIMEOUT": "60"])
            #expect(one.status == 0 && one.output.contains(" \(type) "), "-d \(name): \(one.output)")
        }
        let stepped = try run(bench + ["-b", "1K", "-e", "4K", "-i", "1K"] + small, environment: ["COLLECTIVES_TIMEOUT": "60"])
        let sizes = stepped.output.split(separator: "\n").filter { $0.hasPrefix("[rank 0]  ") }.map { $0.split(separator: " ")[2] }
        #expect(sizes == ["1024", "2048", "3072", "4096"], "\(stepped.output)")
        for (flag, words) in [("0", "rank 0's"), ("1", "the average over ranks"), ("2", "the minimum over ranks"), ("3", "the maximum over ranks")] {
            let timed = try run(bench + ["-a", flag, "-b", "1K", "-e", "1K"] + small, environment: ["COLLECTIVES_TIMEOUT": "60"])
            #expect(timed.status == 0 && timed.output.contains("time: \(words) (-a \(flag))"), "\(timed.output)")
        }
        // The new collectives, checked, with root 1 where there is one; busbw = algbw x nccl-tests'
        // factor, and algbw = bytes / time, recomputed here from the CSV.
        let directory = "/tmp/collectives-nccl-\(getpid())"
        _ = mkdir(directory, 0o755)
        defer { _ = system("rm -rf '\(directory)'") }
        let factors: [(String, String, Double)] = [("gather", "gather", 2.0 / 3), ("scatter", "scatter", 2.0 / 3), ("sendrecv", "sendrecv", 1),
                                                   ("alltoall", "all-to-all", 2.0 / 3), ("broadcast_perf", "broadcast", 1), ("reduce", "reduce", 1)]
        for (spelling, collective, factor) in factors {
            let rooted = ["gather", "scatter", "broadcast", "reduce"].contains(collective)
            let csv = directory + "/\(collective).csv"
            let result = try run(bench + [spelling, "-b", "96", "-e", "3M", "-f", "32", "-n", "2", "-w", "1", "--csv", csv]
                                 + (rooted ? ["-r", "1"] : []), environment: ["COLLECTIVES_TIMEOUT": "60"])
            #expect(result.status == 0 && result.output.contains("# Out of bounds values : 0 OK"), "\(spelling): \(result.output)")
            let lines = try TrainingProcessTests().readFile(csv).split(separator: "\n").dropFirst()
            #expect(lines.count == (collective == "sendrecv" ? 4 : 8), "\(spelling): \(lines)")
            for line in lines {
                let f = line.split(separator: ",", omittingEmptySubsequences: false)
                guard f.count == 12, let bytes = Double(f[3]), let micros = Double(f[8]), let algbw = Double(f[9]), let busbw = Double(f[10]) else {
                    Issue.record("\(spelling): \(line)")
                    continue
                }
                #expect(f[0] == collective && f[7] == (rooted ? "1" : "-1") && f[11] == "0", "\(line)")
                #expect(abs(algbw - bytes / (micros * 1e-6) / 1e9) <= 1e-3 + 0.01 * algbw, "algbw: \(line)")
                #expect(abs(busbw - algbw * factor) <= 1e-3 + 0.01 * busbw, "busbw: \(line)")
            }
        }
    }

    @Test func badBenchmarkFlagsAreExplained() throws {
        for (flags, message) in [(["-f", "1"], "-f must be at least 2"), (["-b", "lots"], "lots"),
                                 (["all-gather", "--algorithm", "tree"], "--algorithm applies to all-reduce only"),
                                 (["--algorithm", "fastest"], "fastest"), (["gatherer"], "gatherer"),
                                 (["-f", "2", "-i", "1K"], "not both"), (["-a", "4"], "-a takes"),
                                 (["all-gather", "-r", "1"], "-r applies"), (["-d", "float8"], "float8")] {
            let result = try run([Products.path("collectives-bench")] + flags,
                                 environment: ["RANK": "0", "WORLD_SIZE": "1", "MASTER_ADDR": "127.0.0.1", "MASTER_PORT": "1"])
            #expect(result.status != 0, "\(flags)")
            #expect(result.output.contains(message), "\(flags): \(result.output)")
        }
    }
}

/// The demo program across real processes, on a small generated MNIST-format data set.
@Suite(.serialized) struct TrainingProcessTests {
    @Test func lossFallsAndRanksAgree() throws {
        let directory = "/tmp/collectives-train-\(getpid())"
        defer { _ = system("rm -rf '\(directory)'") }
        try writeSmallDataset(directory)
        let metrics = directory + "/metrics.csv", timeline = directory + "/timeline.json"
        let result = try run([Products.path("collectives-run"), "-n", "3", "--", Products.path("mnist-train"),
                              "--data-dir", directory, "--epochs", "3", "--batch-size", "32", "--hidden", "16",
                              "--metrics", metrics, "--timeline", timeline],
                             environment: ["COLLECTIVES_TIMEOUT": "60"], timeout: 300)
        #expect(result.status == 0, "\(result.output)")
        #expect(result.output.contains("parameters identical on all 3 ranks"), "\(result.output)")
        let csv = try readFile(metrics).split(separator: "\n")
        #expect(csv.first == "epoch,train_loss,test_accuracy,samples_per_second,communication_seconds,communication_overhead")
        let losses = csv.dropFirst().map { Double($0.split(separator: ",")[1])! }
        #expect(losses.count == 3 && losses.last! < losses.first!, "\(csv)")
        let accuracy = Double(csv.last!.split(separator: ",")[2])!
        #expect(accuracy > 0.9, "\(csv)")
        #expect(try readFile(directory + "/metrics.svg").contains("<svg"))
        struct Trace: Decodable {
            struct Event: Decodable { var name: String; var ph: String; var pid: Int; var tid: Int? }
            var traceEvents: [Event]
        }
        let trace = try JSONDecoder().decode(Trace.self, from: Data(try readFile(timeline).utf8))
        #expect(trace.traceEvents.contains { $0.name == "backward" && $0.pid == 2 && $0.ph == "X" })
        #expect(trace.traceEvents.contains { $0.name == "all-reduce bucket 0" && $0.tid == 1 })
    }

    /// Training 3 epochs with checkpoints but stopping after 2 (as an interrupted job would),
    /// then resuming, ends with the bits of 3 epochs straight (the checksum every rank agrees
    /// on); a damaged checkpoint is refused, naming it.
    @Test func resumingFromACheckpointIsBitIdentical() throws {
        let directory = "/tmp/collectives-resume-\(getpid())"
        defer { _ = system("rm -rf '\(directory)'") }
        try writeSmallDataset(directory)
        // One algorithm for every bucket: `auto` measures the machine when it starts and may choose
        // differently from run to run under load, and different algorithms round differently.
        let train = [Products.path("collectives-run"), "-n", "3", "--", Products.path("mnist-train"),
                     "--data-dir", directory, "--batch-size", "32", "--hidden", "16", "--algorithm", "ring"]
        func checksum(_ output: String) -> String? {
            output.split(separator: "\n").first { $0.contains("parameters identical on all 3 ranks") }.map(String.init)
        }
        let straight = try run(train + ["--epochs", "3"], environment: ["COLLECTIVES_TIMEOUT": "60"], timeout: 300)
        #expect(straight.status == 0, "\(straight.output)")
        let first = try run(train + ["--epochs", "3", "--stop-after-epoch", "2", "--checkpoint", directory + "/ckpt"],
                            environment: ["COLLECTIVES_TIMEOUT": "60"], timeout: 300)
        #expect(first.status == 0, "\(first.output)")
        let resumed = try run(train + ["--epochs", "3", "--checkpoint", directory + "/ckpt", "--resume"],
                              environment: ["COLLECTIVES_TIMEOUT": "60"], timeout: 300)
        #expect(resumed.status == 0, "\(resumed.output)")
        #expect(resumed.output.contains("resumed from \(directory)/ckpt/checkpoint.bin after epoch 2"), "\(resumed.output)")
        #expect(!resumed.output.contains("epoch 1/3") && resumed.output.contains("epoch 3/3"), "\(resumed.output)")
        #expect(checksum(straight.output) != nil && checksum(straight.output) == checksum(resumed.output),
                "\(straight.output)\n---\n\(resumed.output)")
        // One flipped byte.
        let path = directory + "/ckpt/checkpoint.bin"
        let fd = open(path, O_RDWR)
        var byte: UInt8 = 0
        _ = pread(fd, &byte, 1, 100)
        byte ^= 1
        _ = pwrite(fd, &byte, 1, 100)
        close(fd)
        let damaged = try run(train + ["--epochs", "3", "--checkpoint", directory + "/ckpt", "--resume"],
                              environment: ["COLLECTIVES_TIMEOUT": "60"], timeout: 300)
        #expect(damaged.status != 0)
        #expect(damaged.output.contains("checkpoint \(path): CRC-32"), "\(damaged.output)")
    }

    /// Gradients all-reduced in bf16 and fp16: half the bytes, every rank with the same
    /// parameters, and the loss still falls.
    @Test(arguments: ["bf16", "fp16"])
    func compressedGradientsHalveTheBytes(type: String) throws {
        let directory = "/tmp/collectives-compressed-\(getpid())-\(type)"
        defer { _ = system("rm -rf '\(directory)'") }
        try writeSmallDataset(directory)
        let train = [Products.path("collectives-run"), "-n", "3", "--", Products.path("mnist-train"),
                     "--data-dir", directory, "--epochs", "3", "--batch-size", "32", "--hidden", "16", "--metrics", directory + "/m.csv"]
        let plain = try run(train, environment: ["COLLECTIVES_TIMEOUT": "60"], timeout: 300)
        let compressed = try run(train + ["--gradient-type", type], environment: ["COLLECTIVES_TIMEOUT": "60"], timeout: 300)
        #expect(plain.status == 0 && compressed.status == 0, "\(plain.output)\n---\n\(compressed.output)")
        func bytes(_ output: String) -> Int? {
            output.split(separator: "\n").first { $0.contains("bytes per rank per step") }
                .flatMap { $0.split(separator: ":").last?.split(separator: " ").first }.flatMap { Int($0) }
        }
        #expect(bytes(plain.output) != nil && bytes(plain.output) == bytes(compressed.output).map { $0 * 2 }, "\(compressed.output)")
        #expect(compressed.output.contains("gradients in \(type == "bf16" ? "bfloat16" : "float16") with error feedback"), "\(compressed.output)")
        #expect(compressed.output.contains("parameters identical on all 3 ranks"), "\(compressed.output)")
        let csv = try readFile(directory + "/m.csv").split(separator: "\n")
        let accuracy = Double(csv.last!.split(separator: ",")[2])!
        #expect(accuracy > 0.9, "\(csv)")
    }

    /// Runs `arguments` (as `run`) on a thread of its own after `delay` seconds; the returned
    /// closure waits for it and gives its result.
    func runInBackground(after delay: Double = 0, _ arguments: [String], environment: [String: String],
                         timeout: Double) -> () throws -> Finished {
        let result = Mutex<Result<Finished, any Error>?>(nil)
        let thread = SystemThread(name: "background run") {
            if delay > 0 { sleepSeconds(delay) }
            let outcome = Result { try run(arguments, environment: environment, timeout: timeout) }
            result.withLock { $0 = outcome }
        }
        return {
            thread.join()
            return try result.withLock { try $0!.get() }
        }
    }

    /// The parameters in a checkpoint file, read by the layout the docs give (`SWCOLCK1`,
    /// epochs, count, parameters, velocities, CRC), not by the trainer's reader.
    func checkpointParameters(_ path: String) throws -> (epochs: Int, parameters: [Float]) {
        let bytes = try readBytes(path)
        func word(_ offset: Int) -> UInt64 { (0..<8).reduce(UInt64(0)) { $0 | UInt64(bytes[offset + $1]) << (8 * $1) } }
        guard bytes.count >= 28, String(decoding: bytes[0..<8], as: UTF8.self) == "SWCOLCK1" else { return (-1, []) }
        let count = Int(word(16))
        let parameters = (0..<count).map { i in
            Float(bitPattern: (0..<4).reduce(UInt32(0)) { $0 | UInt32(bytes[24 + 4 * i + $1]) << (8 * $1) })
        }
        return (Int(word(8)), parameters)
    }

    /// Training across processes against an independent reference: the same seed and global
    /// batches on one rank. After 30 steps (3 epochs of 10), the parameters of 3 processes over
    /// shared memory and of 2 over TCP are within 1e-5 of the one-rank run's (float sums in
    /// another order); with bf16 gradients (half the bytes, error feedback) within 2e-3.
    @Test(arguments: [("shm", 3, "float32"), ("tcp", 2, "float32"), ("shm", 3, "bf16")])
    func trainingAcrossProcessesMatchesOneRank(transport: String, ranks: Int, gradients: String) throws {
        let directory = "/tmp/collectives-reference-\(getpid())-\(transport)-\(ranks)-\(gradients)"
        defer { _ = system("rm -rf '\(directory)'") }
        try writeSmallDataset(directory)
        let train = [Products.path("mnist-train"), "--data-dir", directory, "--epochs", "3", "--steps-per-epoch", "10",
                     "--batch-size", "30", "--hidden", "16", "--algorithm", "ring"]
        let environment = ["COLLECTIVES_TIMEOUT": "60", "COLLECTIVES_TRANSPORT": transport]
        let one = try run([Products.path("collectives-run"), "-n", "1", "--"] + train + ["--checkpoint", directory + "/one"],
                          environment: environment, timeout: 300)
        #expect(one.status == 0, "\(one.output)")
        let many = try run([Products.path("collectives-run"), "-n", String(ranks), "--"] + train
                           + ["--checkpoint", directory + "/many", "--gradient-type", gradients], environment: environment, timeout: 300)
        #expect(many.status == 0, "\(many.output)")
        let reference = try checkpointParameters(directory + "/one/checkpoint.bin")
        let parallel = try checkpointParameters(directory + "/many/checkpoint.bin")
        #expect(reference.epochs == 3 && parallel.epochs == 3 && reference.parameters.count == 36 * 16 + 16 + 16 * 3 + 3)
        let difference = largestDifference(reference.parameters, parallel.parameters)
        let bound: Float = gradients == "bf16" ? 2e-3 : 1e-5
        #expect(difference < bound, "largest parameter difference \(difference), bound \(bound)")
        print("\(ranks) ranks over \(transport), \(gradients) gradients: largest parameter difference from one rank \(difference)")
    }

    /// `mnist-train --pipeline-stages 2 --micro-batches 4` on 4 processes (2 stages × 2
    /// replicas), over shared memory and over TCP: the loss falls, each stage's replicas agree,
    /// the timeline names stages and micro-batches, and the whole model it checkpoints is
    /// within rounding of data-parallel training's after the same 3 epochs.
    @Test(arguments: ["shm", "tcp"])
    func aHybridPipelineMatchesDataParallelTraining(transport: String) throws {
        let directory = "/tmp/collectives-pipeline-\(getpid())-\(transport)"
        defer { _ = system("rm -rf '\(directory)'") }
        try writeSmallDataset(directory)
        let train = [Products.path("collectives-run"), "-n", "4", "--", Products.path("mnist-train"),
                     "--data-dir", directory, "--epochs", "3", "--batch-size", "32", "--hidden", "16,12", "--algorithm", "ring"]
        let environment = ["COLLECTIVES_TIMEOUT": "60", "COLLECTIVES_TRANSPORT": transport]
        let pipelined = try run(train + ["--pipeline-stages", "2", "--micro-batches", "4", "--checkpoint", directory + "/pipeline",
                                         "--metrics", directory + "/m.csv", "--timeline", directory + "/trace.json"],
                                environment: environment, timeout: 300)
        #expect(pipelined.status == 0, "\(pipelined.output)")
        #expect(pipelined.output.contains("a 1f1b pipeline of 2 stages (36-16 | 16-12-3) × 2 replicas, 4 micro-batches per step"), "\(pipelined.output)")
        #expect(pipelined.output.contains("parameters identical inside each stage's 2 replicas"), "\(pipelined.output)")
        let csv = try readFile(directory + "/m.csv").split(separator: "\n")
        let losses = csv.dropFirst().map { Double($0.split(separator: ",")[1])! }
        #expect(losses.count == 3 && losses.last! < losses.first!, "\(csv)")
        #expect(Double(csv.last!.split(separator: ",")[2])! > 0.9, "\(csv)")
        struct Trace: Decodable {
            struct Event: Decodable { var name: String; var ph: String; var pid: Int; var args: [String: String]? }
            var traceEvents: [Event]
        }
        let trace = try JSONDecoder().decode(Trace.self, from: Data(try readFile(directory + "/trace.json").utf8))
        #expect(trace.traceEvents.contains { $0.name == "process_name" && $0.pid == 3 && $0.args?["name"] == "rank 3: stage 1, replica 1" })
        #expect(trace.traceEvents.contains { $0.name == "forward micro-batch 3" && $0.pid == 3 && $0.ph == "X" })
        #expect(trace.traceEvents.contains { $0.name == "receive gradients" && $0.pid == 2 })

        let dataParallel = try run(train + ["--checkpoint", directory + "/data-parallel"], environment: environment, timeout: 300)
        #expect(dataParallel.status == 0, "\(dataParallel.output)")
        let a = try checkpointParameters(directory + "/pipeline/checkpoint.bin")
        let b = try checkpointParameters(directory + "/data-parallel/checkpoint.bin")
        #expect(a.epochs == 3 && b.epochs == 3 && a.parameters.count == 36 * 16 + 16 + 16 * 12 + 12 + 12 * 3 + 3)
        #expect(a.parameters.count == b.parameters.count)
        let difference = largestDifference(a.parameters, b.parameters)
        #expect(difference < 1e-4, "largest parameter difference \(difference)")
    }

    /// A pipeline stopped after epoch 2 and resumed from its checkpoint ends with the same bytes
    /// as one that ran 3 epochs straight; a data-parallel checkpoint resumes as a pipeline; a
    /// layout that does not fit the ranks is refused.
    @Test func aPipelineResumesBitIdentically() throws {
        let directory = "/tmp/collectives-pipeline-resume-\(getpid())"
        defer { _ = system("rm -rf '\(directory)'") }
        try writeSmallDataset(directory)
        let train = [Products.path("collectives-run"), "-n", "4", "--", Products.path("mnist-train"),
                     "--data-dir", directory, "--epochs", "3", "--batch-size", "32", "--hidden", "16", "--algorithm", "ring",
                     "--pipeline-stages", "2", "--micro-batches", "3"]
        let environment = ["COLLECTIVES_TIMEOUT": "60"]
        let straight = try run(train + ["--checkpoint", directory + "/straight"], environment: environment, timeout: 300)
        #expect(straight.status == 0, "\(straight.output)")
        let first = try run(train + ["--checkpoint", directory + "/resumed", "--stop-after-epoch", "2"], environment: environment, timeout: 300)
        #expect(first.status == 0, "\(first.output)")
        let resumed = try run(train + ["--checkpoint", directory + "/resumed", "--resume"], environment: environment, timeout: 300)
        #expect(resumed.status == 0, "\(resumed.output)")
        #expect(resumed.output.contains("after epoch 2") && !resumed.output.contains("epoch 1/3"), "\(resumed.output)")
        #expect(try readBytes(directory + "/straight/checkpoint.bin") == readBytes(directory + "/resumed/checkpoint.bin"))

        // Data-parallel training's checkpoint after 2 epochs, continued as a pipeline.
        let plain = [Products.path("collectives-run"), "-n", "2", "--", Products.path("mnist-train"),
                     "--data-dir", directory, "--epochs", "3", "--batch-size", "32", "--hidden", "16", "--algorithm", "ring",
                     "--checkpoint", directory + "/mixed"]
        let dataParallel = try run(plain + ["--stop-after-epoch", "2"], environment: environment, timeout: 300)
        #expect(dataParallel.status == 0, "\(dataParallel.output)")
        let continued = try run(train + ["--checkpoint", directory + "/mixed", "--resume"], environment: environment, timeout: 300)
        #expect(continued.status == 0 && continued.output.contains("after epoch 2"), "\(continued.output)")
        let a = try checkpointParameters(directory + "/mixed/checkpoint.bin")
        let b = try checkpointParameters(directory + "/straight/checkpoint.bin")
        #expect(a.epochs == 3 && a.parameters.count == b.parameters.count)
        let difference = largestDifference(a.parameters, b.parameters)
        #expect(difference < 1e-4, "largest parameter difference \(difference)")

        let misfit = try run([Products.path("collectives-run"), "-n", "3", "--", Products.path("mnist-train"), "--data-dir", directory,
                              "--pipeline-stages", "2"], environment: environment, timeout: 120)
        #expect(misfit.status != 0)
        #expect(misfit.output.contains("--pipeline-stages 2 does not divide the 3 ranks into whole replicas"), "\(misfit.output)")
    }

    /// `collectives-run --elastic`: rank 2 is killed (SIGKILL) during epoch 2; the other three
    /// shrink the communicator, re-shard the data, repeat the epoch and finish with identical
    /// parameters, over shared memory and over TCP.
    @Test(arguments: ["shm", "tcp"])
    func aKilledRankIsLeftBehindInAnElasticJob(transport: String) throws {
        let directory = "/tmp/collectives-elastic-\(getpid())-\(transport)"
        defer { _ = system("rm -rf '\(directory)'") }
        try writeSmallDataset(directory)
        let result = try run([Products.path("collectives-run"), "--elastic", "-n", "4", "--", Products.path("mnist-train"),
                              "--data-dir", directory, "--epochs", "3", "--batch-size", "32", "--hidden", "16",
                              "--kill-rank", "2", "--kill-at-epoch", "2", "--metrics", directory + "/m.csv", "--record-examples", directory],
                             environment: ["COLLECTIVES_TIMEOUT": "60", "COLLECTIVES_TRANSPORT": transport], timeout: 300)
        #expect(result.status == 0, "\(result.output)")
        #expect(result.output.contains("collectives-run: --elastic: rank 2 was killed by signal 9 (SIGKILL); the others went on"), "\(result.output)")
        #expect(result.output.contains("epoch 2/3: lost rank 2 after"), "\(result.output)")
        #expect(result.output.contains("continuing on 3 ranks, epoch 2 again"), "\(result.output)")
        #expect(result.output.contains("parameters identical on all 3 ranks"), "\(result.output)")
        let csv = try readFile(directory + "/m.csv").split(separator: "\n")
        #expect(csv.count == 4, "\(csv)")
        #expect(Double(csv.last!.split(separator: ",")[2])! > 0.9, "\(csv)")
        // Epoch 2, run again on 3 ranks after the loss, used every example once, as did 1 and 3.
        try expectEveryExampleOncePerEpoch(directory, epochs: 3, examples: 600, files: 4)
    }

    /// Reads the examples every rank trained on (`mnist-train --record-examples`) and checks
    /// that each completed epoch used every one of the data set's examples exactly once, over
    /// all ranks together, whatever ranks were lost or joined.
    func expectEveryExampleOncePerEpoch(_ directory: String, epochs: Int, examples: Int, files: Int,
                                        sourceLocation: SourceLocation = #_sourceLocation) throws {
        let names = try listDirectory(directory).filter { $0.hasPrefix("examples-") }
        #expect(names.count == files, "record files \(names)", sourceLocation: sourceLocation)
        var used = Array(repeating: [Int](), count: epochs + 1)
        for name in names {
            for line in try readFile(directory + "/" + name).split(separator: "\n") {
                let parts = line.split(separator: ":", maxSplits: 1)
                guard parts.count == 2, parts[0].hasPrefix("epoch "), let epoch = Int(parts[0].dropFirst(6)), (1...epochs).contains(epoch) else {
                    Issue.record("\(name): a bad line \(line)", sourceLocation: sourceLocation)
                    continue
                }
                used[epoch] += parts[1].split(separator: ",").compactMap { Int($0.trimmingPrefix(" ")) }
            }
        }
        for epoch in 1...epochs {
            let counts = Dictionary(used[epoch].map { ($0, 1) }, uniquingKeysWith: +)
            let twice = counts.filter { $0.value > 1 }.keys.sorted()
            let missing = (0..<examples).filter { counts[$0] == nil }
            #expect(used[epoch].count == examples && twice.isEmpty && missing.isEmpty,
                    "epoch \(epoch): \(used[epoch].count) examples used, \(twice.count) more than once (\(twice.prefix(5))), \(missing.count) never (\(missing.prefix(5)))",
                    sourceLocation: sourceLocation)
        }
    }

    /// `collectives-run --elastic --max 3` with 2 ranks, and a rank started later by
    /// `collectives-run --join`: the job admits it at the end of epoch 1 or 2 (told to wait for it
    /// after epoch 2 if it has not come by then, so the test does not race the job's end),
    /// re-shards over 3 ranks and finishes with identical parameters on all 3; the joined rank
    /// says where it came in. Over TCP and shared memory.
    @Test(arguments: [("shm", 2), ("tcp", 2), ("tcp", 1)])
    func aRankStartedLaterJoinsAtAnEpochBoundary(transport: String, ranks: Int) throws {
        let directory = "/tmp/collectives-join-\(getpid())-\(transport)-\(ranks)"
        defer { _ = system("rm -rf '\(directory)'") }
        try writeSmallDataset(directory)
        let port = try freePort()
        let train = [Products.path("mnist-train"), "--data-dir", directory, "--epochs", "4", "--batch-size", "32", "--hidden", "16"]
        let environment = ["COLLECTIVES_TIMEOUT": "60", "COLLECTIVES_TRANSPORT": transport, "COLLECTIVES_JOB_SECRET": "join-test-\(getpid())"]
        let joiner = runInBackground([Products.path("collectives-run"), "--join", "127.0.0.1:\(port)", "--"] + train
                                        + ["--record-examples", directory], environment: environment, timeout: 200)
        let job = try run([Products.path("collectives-run"), "--elastic", "-n", String(ranks), "--max", String(ranks + 1), "--master-port", String(port), "--"]
                          + train + ["--await-join-after-epoch", "2", "--metrics", directory + "/m.csv", "--record-examples", directory],
                          environment: environment, timeout: 200)
        let joined = try joiner()
        #expect(job.status == 0, "\(job.output)")
        #expect(job.output.contains("--join 127.0.0.1:\(port) -- PROGRAM"), "\(job.output)")
        let joinedLine = { (epoch: Int) in "epoch \(epoch)/4: rank \(ranks) joined; continuing on \(ranks + 1) ranks from epoch \(epoch + 1)" }
        let admitted = job.output.contains(joinedLine(1)) ? 2 : job.output.contains(joinedLine(2)) ? 3 : nil
        #expect(admitted != nil, "\(job.output)")
        #expect(job.output.contains("parameters identical on all \(ranks + 1) ranks"), "\(job.output)")
        #expect(joined.status == 0, "\(joined.output)")
        #expect(joined.output.contains("[joining 0] mnist-train: joined the job as rank \(ranks) of \(ranks + 1); going on at epoch \(admitted ?? 0)"), "\(joined.output)")
        let csv = try readFile(directory + "/m.csv").split(separator: "\n")
        #expect(csv.count == 5 && Double(csv.last!.split(separator: ",")[2])! > 0.9, "\(csv)")
        // The joiner records what it trained on too (the job and it share the directory).
        try expectEveryExampleOncePerEpoch(directory, epochs: 4, examples: 600, files: ranks + 1)
    }

    /// Joining needs the job's secret on both sides, and a job that never admits the joiner
    /// leaves it to time out with a reason, not hang.
    @Test func joiningIsRefusedWithoutTheSecretAndTimesOutWhenNotAdmitted() throws {
        let directory = "/tmp/collectives-join-refused-\(getpid())"
        defer { _ = system("rm -rf '\(directory)'") }
        try writeSmallDataset(directory)
        let noSecret = try run([Products.path("collectives-run"), "--elastic", "-n", "2", "--max", "3", "--", "/bin/true"],
                               environment: ["COLLECTIVES_JOB_SECRET": ""])
        #expect(noSecret.status != 0 && noSecret.output.contains("set COLLECTIVES_JOB_SECRET"), "\(noSecret.output)")
        let joinWithout = try run([Products.path("collectives-run"), "--join", "127.0.0.1:1", "--", "/bin/true"],
                                  environment: ["COLLECTIVES_JOB_SECRET": ""])
        #expect(joinWithout.status != 0 && joinWithout.output.contains("--join: set COLLECTIVES_JOB_SECRET"), "\(joinWithout.output)")

        // A job (here a program that never admits anyone) whose store the joiner reaches.
        let port = try freePort()
        let environment = ["COLLECTIVES_TIMEOUT": "60", "COLLECTIVES_JOB_SECRET": "join-refused-\(getpid())", "COLLECTIVES_JOIN_TIMEOUT": "3"]
        let joiner = runInBackground(after: 1, [Products.path("collectives-run"), "--join", "127.0.0.1:\(port)", "--", Products.path("mnist-train"),
                                                "--data-dir", directory], environment: environment, timeout: 100)
        let job = try run([Products.path("collectives-run"), "--elastic", "-n", "2", "--max", "3", "--master-port", String(port), "--",
                           "/bin/sleep", "15"], environment: environment, timeout: 100)
        let joined = try joiner()
        #expect(job.status == 0, "\(job.output)")
        #expect(joined.status != 0, "\(joined.output)")
        #expect(joined.output.contains("joining a running job: ticket 1 was not admitted within 3.0 s"), "\(joined.output)")
    }

    /// A joiner started with another `--seed` than the job's is refused at admission, naming
    /// the setting (it would have shuffled differently), and the job goes on without it.
    @Test func aJoinerWithAnotherSeedIsRefused() throws {
        let directory = "/tmp/collectives-join-seed-\(getpid())"
        defer { _ = system("rm -rf '\(directory)'") }
        try writeSmallDataset(directory)
        let port = try freePort()
        let train = [Products.path("mnist-train"), "--data-dir", directory, "--epochs", "2", "--batch-size", "32", "--hidden", "16"]
        let environment = ["COLLECTIVES_TIMEOUT": "10", "COLLECTIVES_JOB_SECRET": "join-seed-\(getpid())"]
        let joiner = runInBackground([Products.path("collectives-run"), "--join", "127.0.0.1:\(port)", "--"] + train + ["--seed", "7"],
                                     environment: environment, timeout: 120)
        let job = try run([Products.path("collectives-run"), "--elastic", "-n", "2", "--max", "3", "--master-port", String(port), "--"]
                          + train + ["--seed", "1", "--await-join-after-epoch", "1"], environment: environment, timeout: 120)
        let joined = try joiner()
        #expect(joined.status != 0, "\(joined.output)")
        #expect(joined.output.contains("its setting --seed is 1, this process has 7"), "\(joined.output)")
        #expect(job.status == 0, "\(job.output)")
        #expect(job.output.contains("parameters identical on all 2 ranks"), "\(job.output)")
    }

    /// A pipeline under `--elastic`: when rank 2 (stage 0 of replica 1) is killed, the three
    /// survivors put the whole model together from the stages they hold and go on as data
    /// parallelism (3 ranks are not whole 2-stage replicas); when the only replica of a stage is
    /// lost, from the last checkpoint, and without one the job says so.
    @Test func aPipelineGoesOnAfterLosingARank() throws {
        let directory = "/tmp/collectives-elastic-pipeline-\(getpid())"
        defer { _ = system("rm -rf '\(directory)'") }
        try writeSmallDataset(directory)
        let train = [Products.path("mnist-train"), "--data-dir", directory, "--epochs", "3", "--batch-size", "32", "--hidden", "16",
                     "--pipeline-stages", "2", "--kill-at-epoch", "2"]
        let environment = ["COLLECTIVES_TIMEOUT": "60"]
        let hybrid = try run([Products.path("collectives-run"), "--elastic", "-n", "4", "--"] + train + ["--kill-rank", "2", "--metrics", directory + "/m.csv"],
                             environment: environment, timeout: 300)
        #expect(hybrid.status == 0, "\(hybrid.output)")
        #expect(hybrid.output.contains("epoch 2/3: lost rank 2 after"), "\(hybrid.output)")
        #expect(hybrid.output.contains("continuing on 3 ranks as data parallelism from the surviving stages, epoch 2 again"), "\(hybrid.output)")
        #expect(hybrid.output.contains("parameters identical on all 3 ranks"), "\(hybrid.output)")
        let csv = try readFile(directory + "/m.csv").split(separator: "\n")
        #expect(csv.count == 4 && Double(csv.last!.split(separator: ",")[2])! > 0.9, "\(csv)")

        let alone = [Products.path("collectives-run"), "--elastic", "-n", "2", "--"] + train + ["--kill-rank", "1"]
        let checkpointed = try run(alone + ["--checkpoint", directory + "/ckpt"], environment: environment, timeout: 300)
        #expect(checkpointed.status == 0, "\(checkpointed.output)")
        #expect(checkpointed.output.contains("continuing on 1 rank as data parallelism from the checkpoint of epoch 1, epoch 2 again"),
                "\(checkpointed.output)")
        #expect(checkpointed.output.contains("epoch 3/3: loss"), "\(checkpointed.output)")
        let lost = try run(alone, environment: environment, timeout: 300)
        #expect(lost.status != 0)
        #expect(lost.output.contains("every replica of a pipeline stage was lost, and there is no --checkpoint to go on from"), "\(lost.output)")
    }

    /// Without --elastic, the same death still stops the job, naming the rank.
    @Test func withoutElasticADeathStillStopsTheJob() throws {
        let directory = "/tmp/collectives-inelastic-\(getpid())"
        defer { _ = system("rm -rf '\(directory)'") }
        try writeSmallDataset(directory)
        let result = try run([Products.path("collectives-run"), "-n", "3", "--", Products.path("mnist-train"),
                              "--data-dir", directory, "--epochs", "3", "--batch-size", "32", "--hidden", "16",
                              "--kill-rank", "2", "--kill-at-epoch", "2"],
                             environment: ["COLLECTIVES_TIMEOUT": "60"], timeout: 120)
        #expect(result.status != 0)
        #expect(result.output.contains("rank 2 was killed by signal 9 (SIGKILL); stopped the other ranks"), "\(result.output)")
    }

    @Test func aBadDataDirectoryIsNamed() throws {
        let result = try run([Products.path("collectives-run"), "-n", "2", "--", Products.path("mnist-train"),
                              "--data-dir", "/nonexistent/data"], environment: ["COLLECTIVES_TIMEOUT": "30"])
        #expect(result.status != 0)
        #expect(result.output.contains("/nonexistent/data/train-images-idx3-ubyte"), "\(result.output)")
    }

    /// 600 training and 100 test images of 6×6 pixels, 3 classes, raw IDX files.
    func writeSmallDataset(_ directory: String) throws {
        _ = mkdir(directory, 0o755)
        var state: UInt64 = 12345
        func next() -> Int { state = state &* 6364136223846793005 &+ 1442695040888963407; return Int(state >> 33) }
        for (split, count) in [("train", 600), ("t10k", 100)] {
            var pixels: [UInt8] = [], labels: [UInt8] = []
            for _ in 0..<count {
                let label = next() % 3
                labels.append(UInt8(label))
                for p in 0..<36 { pixels.append(UInt8(p / 12 == label ? 160 + next() % 96 : next() % 90)) }
            }
            try writeIDX("\(directory)/\(split)-images-idx3-ubyte", pixels, [count, 6, 6])
            try writeIDX("\(directory)/\(split)-labels-idx1-ubyte", labels, [count])
        }
    }

    func writeIDX(_ path: String, _ data: [UInt8], _ dimensions: [Int]) throws {
        var bytes: [UInt8] = [0, 0, 8, UInt8(dimensions.count)]
        for d in dimensions { bytes += [UInt8(d >> 24 & 255), UInt8(d >> 16 & 255), UInt8(d >> 8 & 255), UInt8(d & 255)] }
        bytes += data
        guard let file = fopen(path, "wb") else { throw SystemError(call: "fopen(\(path))", errno: errno) }
        _ = bytes.withUnsafeBytes { fwrite($0.baseAddress, 1, $0.count, file) }
        fclose(file)
    }

    /// The names in `directory` (without `.` and `..`).
    func listDirectory(_ directory: String) throws -> [String] {
        guard let handle = opendir(directory) else { throw SystemError(call: "opendir(\(directory))", errno: errno) }
        defer { closedir(handle) }
        var names: [String] = []
        while let entry = readdir(handle) {
            let name = withUnsafeBytes(of: entry.pointee.d_name) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
            if name != "." && name != ".." { names.append(name) }
        }
        return names
    }

    func readFile(_ path: String) throws -> String {
        String(decoding: try readBytes(path), as: UTF8.self)
    }

    func readBytes(_ path: String) throws -> [UInt8] {
        guard let file = fopen(path, "rb") else { throw SystemError(call: "fopen(\(path))", errno: errno) }
        defer { fclose(file) }
        var bytes: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 65536)
        while true {
            let n = chunk.withUnsafeMutableBytes { fread($0.baseAddress, 1, $0.count, file) }
            if n == 0 { break }
            bytes += chunk[0..<n]
        }
        return bytes
    }
}
