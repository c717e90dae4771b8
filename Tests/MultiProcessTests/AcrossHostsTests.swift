import CollectivesSystem
import Synchronization
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// Ranks on several hosts: emulated with `COLLECTIVES_HOST_ID` on loopback, with launch agents
/// that run here, and with network namespaces on a bridge with shaped links.
extension MultiProcessTests {
    /// Six ranks dealt over two emulated hosts (even ranks on one, odd on the other): pairs on a
    /// host use shared memory and the others TCP, and every collective and algorithm is right,
    /// including the hierarchical all-reduce and the ring ordered host by host.
    @Test func ranksDealtOverTwoHosts() throws {
        let check = Products.path("collectives-check")
        let result = try run([Products.path("collectives-run"), "-n", "6", "--", "/bin/sh", "-c",
                              "COLLECTIVES_HOST_ID=h$((RANK % 2)) exec \(check) --collectives all --algorithms auto hierarchical "
                                + "--counts 0 1 5 1001 1000003 --types float32 int64 --ops sum average"],
                             // Constants under which auto takes the ring (so, here, the hierarchy) for
                             // large counts, whatever else runs on the machine.
                             environment: ["COLLECTIVES_TIMEOUT": "60", "COLLECTIVES_LOG_LEVEL": "debug",
                                           "COLLECTIVES_LATENCY_US": "50", "COLLECTIVES_BANDWIDTH_GBPS": "1"], timeout: 600)
        #expect(result.status == 0, "\(result.output)")
        expectSummaries(result.output, ranks: 6, passed: allCollectivesChecks(algorithms: 2, counts: 5, opsPerType: [2, 2]))
        #expect(result.output.contains("rank 0: shared memory with ranks [2, 4] on this host, TCP with ranks [1, 3, 5]"), "\(result.output)")
        #expect(result.output.contains("rank 5: shared memory with ranks [1, 3] on this host, TCP with ranks [0, 2, 4]"), "\(result.output)")
        #expect(result.output.contains("over 6 ranks: hierarchical"), "auto never chose the hierarchical all-reduce: \(result.output)")
    }

    /// Ranks that call different collectives over the mixed transport: the error names the
    /// job's ranks, whichever medium carried the message.
    @Test func aMismatchAcrossTheMixedTransportNamesTheJobsRanks() throws {
        let check = Products.path("collectives-check")
        // Rank 3 checks max where the others check sum: its partners on its host (rank 1) and
        // across (ranks 2 and 0) see the difference.
        let result = try run([Products.path("collectives-run"), "-n", "4", "--", "/bin/sh", "-c",
                              "OP=sum; if [ $RANK = 3 ]; then OP=max; fi; "
                                + "COLLECTIVES_HOST_ID=h$((RANK % 2)) exec \(check) --counts 1001 --types float32 --ops $OP --algorithms ring"],
                             environment: ["COLLECTIVES_TIMEOUT": "30"], timeout: 120)
        #expect(result.status != 0)
        #expect(result.output.contains("ranks called different collectives"), "\(result.output)")
        #expect(result.output.contains("rank 3 called all-reduce"), "\(result.output)")
        #expect(!result.output.contains("rank -1"), "\(result.output)")
    }

    /// `--hosts` places ranks host by host and sets the local layout; `--hostfile` reads mpirun's
    /// format; bad lists are named. Hosts called `localhost` start directly.
    @Test func hostListsPlaceRanks() throws {
        let launcher = Products.path("collectives-run")
        let show = ["/bin/sh", "-c", "echo \"R=$RANK W=$WORLD_SIZE L=$LOCAL_RANK LW=$LOCAL_WORLD_SIZE H=$COLLECTIVES_HOST_ID\""]
        let placed = try run([launcher, "--hosts", "localhost:2,localhost", "--"] + show, timeout: 60)
        #expect(placed.status == 0, "\(placed.output)")
        for rank in 0..<3 {
            #expect(placed.output.contains("[rank \(rank)] R=\(rank) W=3 L=\(rank) LW=3 H=localhost"), "\(placed.output)")
        }
        let help = try run([launcher, "--help"], timeout: 60)
        #expect(help.status == 0 && help.output.contains("--hostfile") && help.output.contains("--launch-agent"), "\(help.output)")
        let file = "/tmp/collectives-hostfile-\(getpid())"
        defer { unlink(file) }
        try writeText(file, "# two slots here\nlocalhost slots=2   # trailing comment\n\n")
        let fromFile = try run([launcher, "--hostfile", file, "-n", "1", "--"] + show, timeout: 60)
        #expect(fromFile.status == 0 && fromFile.output.contains("[rank 0] R=0 W=1 L=0 LW=1 H=localhost"), "\(fromFile.output)")
        try writeText(file, "localhost cores=2\n")
        let optionFile = file + "-option"
        defer { unlink(optionFile) }
        try writeText(optionFile, "localhost\n-oX=1 slots=2\n")
        let cases: [([String], String)] = [
            (["--hosts", "a:0"], "\"a:0\" is not host:slots"),
            (["--hosts", "a,,b"], "an empty host name"),
            (["--hosts", "[fd88::1"], "has no closing ]"),
            (["--hosts", "host:4:x"], "neither host:slots nor an IPv6 address"),
            (["--hosts", "localhost:2", "-n", "5"], "-n 5 ranks, but the hosts have 2 slots"),
            (["--hostfile", file], "\(file):1: \"cores=2\" is not slots=N"),
            (["--hostfile", "/nonexistent/hosts"], "cannot read --hostfile /nonexistent/hosts"),
            (["--hosts", "a", "--hostfile", file], "not both"),
            // A host name the launch agent would read as an option (ssh -oProxyCommand=…).
            (["--hosts=-oProxyCommand=false:1"], "host name \"-oProxyCommand=false\" begins with \"-\""),
            (["--hosts", "a,-oX=1:1"], "host name \"-oX=1\" begins with \"-\""),
            (["--hostfile", optionFile], "\(optionFile):2: host name \"-oX=1\" begins with \"-\""),
        ]
        for (flags, message) in cases {
            let result = try run([launcher] + flags + ["--", "/bin/true"], timeout: 60)
            #expect(result.status != 0, "\(flags)")
            #expect(result.output.contains(message), "\(flags): \(result.output)")
        }
    }

    /// mpirun's spellings: `-np`, `-H`/`--host`, `--oversubscribe`, `--bind-to core` with
    /// `--report-bindings`; and this host known by its own name and addresses (its ranks start
    /// directly: the launch agent here fails whatever it is asked to run).
    @Test func mpirunSpellingsWork() throws {
        let launcher = Products.path("collectives-run")
        let show = ["/bin/sh", "-c", "echo \"R=$RANK W=$WORLD_SIZE H=$COLLECTIVES_HOST_ID $(grep Cpus_allowed_list /proc/self/status | tr -d '\\t')\""]
        let np = try run([launcher, "-np", "2", "--"] + show, timeout: 60)
        #expect(np.status == 0 && np.output.contains("[rank 1] R=1 W=2"), "\(np.output)")
        var hostname = [CChar](repeating: 0, count: 256)
        gethostname(&hostname, 255)
        let name = String(decoding: hostname.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
        let address = try InterfaceFilter.systemInterfaces().first { !$0.address.isLoopback }?.address.host
        let names = ["localhost", name, "127.0.0.1"] + (address.map { [$0] } ?? [])
        for flag in ["-H", "--host"] {
            let here = try run([launcher, flag, names.map { "\($0):1" }.joined(separator: ","), "--launch-agent", "/bin/false", "--"] + show,
                               timeout: 60)
            #expect(here.status == 0, "\(flag) \(names): \(here.output)")
            for (rank, host) in names.enumerated() {
                #expect(here.output.contains("[rank \(rank)] R=\(rank) W=\(names.count) H=\(host) "), "\(here.output)")
            }
        }
        let over = try run([launcher, "--host", "localhost:2", "-n", "5", "--oversubscribe", "--"] + show, timeout: 60)
        #expect(over.status == 0 && over.output.contains("[rank 4] R=4 W=5 H=localhost"), "\(over.output)")
        let refused = try run([launcher, "--host", "localhost:2", "-n", "5", "--", "/bin/true"], timeout: 60)
        #expect(refused.status != 0 && refused.output.contains("--oversubscribe places more"), "\(refused.output)")
        // Bound round robin over the cores this process may use, as the kernel reports them.
        let cores = try allowedCoresOfThisProcess()
        let bound = try run([launcher, "-n", "3", "--bind-to", "core", "--report-bindings", "--"] + show, timeout: 60)
        #expect(bound.status == 0, "\(bound.output)")
        for rank in 0..<3 {
            let core = cores[rank % cores.count]
            #expect(bound.output.contains("[rank \(rank)] R=\(rank) W=3 H= Cpus_allowed_list:\(core)\n"), "\(bound.output)")
            #expect(bound.output.contains("collectives-run: rank \(rank) (pid "), "\(bound.output)")
            #expect(bound.output.contains(" bound to core \(core)\n"), "\(bound.output)")
        }
        let unbound = try run([launcher, "-n", "1", "--"] + show, timeout: 60)
        #expect(unbound.output.contains("Cpus_allowed_list:\(try cpusAllowedList())"), "\(unbound.output)")
        let badBinding = try run([launcher, "-n", "1", "--bind-to", "socket", "--", "/bin/true"], timeout: 60)
        #expect(badBinding.status != 0 && badBinding.output.contains("core") && badBinding.output.contains("none"), "\(badBinding.output)")
    }

    /// This process's `Cpus_allowed_list` from `/proc/self/status` (such as `0-1` or `0,2-3`).
    func cpusAllowedList() throws -> String {
        let status = try TrainingProcessTests().readFile("/proc/self/status")
        guard let line = status.split(separator: "\n").first(where: { $0.hasPrefix("Cpus_allowed_list:") }) else { return "" }
        return String(line.dropFirst("Cpus_allowed_list:".count).filter { $0 != " " && $0 != "\t" })
    }

    /// The cores in this process's `Cpus_allowed_list`, in order.
    func allowedCoresOfThisProcess() throws -> [Int] {
        try cpusAllowedList().split(separator: ",").flatMap { part -> [Int] in
            let ends = part.split(separator: "-").compactMap { Int($0) }
            return ends.count == 2 ? Array(ends[0]...ends[1]) : ends
        }
    }

    /// `--output-filename DIR`, as mpirun spells it: each rank's standard output and error also
    /// land, unprefixed and complete, in DIR/1/rank.N/stdout and stderr, while the terminal still
    /// gets every line prefixed; a folder that cannot be made stops the launcher before any rank
    /// starts, naming it.
    @Test func outputFilenameWritesEachRanksStreams() throws {
        let directory = "/tmp/collectives-output-\(getpid())"
        defer { _ = system("rm -rf '\(directory)'") }
        let script = "echo out $RANK; i=0; while [ $i -lt 300 ]; do echo line $i; i=$((i + 1)); done; echo err $RANK >&2"
        let result = try run([Products.path("collectives-run"), "-n", "3", "--output-filename", directory + "/run", "--", "/bin/sh", "-c", script],
                             timeout: 60)
        #expect(result.status == 0, "\(result.output)")
        for rank in 0..<3 {
            let output = try TrainingProcessTests().readFile(directory + "/run/1/rank.\(rank)/stdout")
            let lines = output.split(separator: "\n")
            #expect(lines.first == "out \(rank)" && lines.count == 301 && lines.last == "line 299", "rank \(rank)'s stdout: \(output.prefix(200))")
            #expect(try TrainingProcessTests().readFile(directory + "/run/1/rank.\(rank)/stderr") == "err \(rank)\n")
            #expect(result.output.contains("[rank \(rank)] out \(rank)"), "\(result.output)")
        }
        let refused = try run([Products.path("collectives-run"), "-n", "2", "--output-filename", "/proc/no-such-folder", "--",
                               "/bin/sh", "-c", "touch \(directory)/started-$RANK"], timeout: 60)
        #expect(refused.status == 1, "\(refused.output)")
        #expect(refused.output.contains("--output-filename /proc/no-such-folder: mkdir(/proc/no-such-folder)"), "\(refused.output)")
        #expect(access(directory + "/started-0", F_OK) != 0, "a rank started although its output folder could not be made")
    }

    /// Ranks on other hosts start through the launch agent, which (like `ssh`) gives them an
    /// environment of their own: the job's variables, the secret and `-x` names arrive over the
    /// agent's standard input, none of them on a command line, and the rank runs in the
    /// launcher's directory. Every rank's collectives run.
    @Test func aLaunchAgentCarriesTheEnvironment() throws {
        let directory = "/tmp/collectives-agent-\(getpid())"
        _ = mkdir(directory, 0o755)
        defer { _ = system("rm -rf '\(directory)'") }
        // AGENT HOST COMMAND...: runs COMMAND here with an empty environment.
        let agent = try writeScript(directory + "/agent", "shift\nexec /usr/bin/env -i \"$@\"")
        let check = Products.path("collectives-check")
        let rank = directory + "/rank.sh"
        try writeText(rank, """
            echo "R=$RANK L=$LOCAL_RANK LW=$LOCAL_WORLD_SIZE H=$COLLECTIVES_HOST_ID X=$EXTRA Y=$PLAIN PWD=$(pwd)"
            if [ -n "$COLLECTIVES_JOB_SECRET" ] && ! tr '\\0' ' ' < /proc/$PPID/cmdline | grep -q -- "$COLLECTIVES_JOB_SECRET"; then
                echo secret-here-not-on-command-line
            fi
            exec \(check) --collectives all-reduce broadcast --counts 0 3 1001 --types float32 --ops sum

            """)
        let result = try run(["/bin/sh", "-c", "cd \(directory) && exec \(Products.path("collectives-run")) --hosts nodeA:2,nodeB:1 "
                                + "--launch-agent \(agent) -x EXTRA=given -x PLAIN -- /bin/sh \(rank)"],
                             environment: ["COLLECTIVES_TIMEOUT": "60", "PLAIN": "inherited", "COLLECTIVES_JOB_SECRET": "agent-test-secret-4242"],
                             timeout: 120)
        #expect(result.status == 0, "\(result.output)")
        for (rank, local, size, host) in [(0, 0, 2, "nodeA"), (1, 1, 2, "nodeA"), (2, 0, 1, "nodeB")] {
            #expect(result.output.contains("[rank \(rank)] R=\(rank) L=\(local) LW=\(size) H=\(host) X=given Y=inherited PWD=\(directory)"),
                    "\(result.output)")
        }
        #expect(result.output.split(separator: "\n").filter { $0.contains("secret-here-not-on-command-line") }.count == 3, "\(result.output)")
        // all-reduce and broadcast of 3 counts.
        expectSummaries(result.output, ranks: 3, passed: 6)

        // An agent named like ssh gets one shell line, as ssh passes it to the remote shell:
        // arguments with spaces, quotes and shell characters arrive as they were given.
        let ssh = try writeScript(directory + "/ssh", "shift\nexec /usr/bin/env -i /bin/sh -c \"$*\"")
        let words = ["two words", "it's", "$HOME;`x`|*", ""]
        let echoed = try run([Products.path("collectives-run"), "--hosts", "nodeA", "--launch-agent", ssh, "--",
                              "/usr/bin/printf", "<%s>"] + words, timeout: 60)
        #expect(echoed.status == 0, "\(echoed.output)")
        #expect(echoed.output.contains("[rank 0] <two words><it's><$HOME;`x`|*><>"), "\(echoed.output)")
    }

    /// A rank on another host fails: the launcher names it and stops every other rank, although
    /// the agent (like `ssh`) puts them out of the launcher's reach: each learns it must stop when
    /// its agent connection (standard input) closes. Nothing is left running.
    @Test func aFailedRemoteRankStopsEveryRank() throws {
        let directory = "/tmp/collectives-agent-stop-\(getpid())"
        _ = mkdir(directory, 0o755)
        defer { _ = system("rm -rf '\(directory)'") }
        // A new session per rank: the launcher's signals to the agent do not reach the rank.
        let agent = try writeScript(directory + "/agent", "shift\nexec /usr/bin/setsid --wait \"$@\"")
        let marker = "collectives-stop-marker-\(getpid())"
        let started = Deadline.now
        let result = try run([Products.path("collectives-run"), "--hosts", "nodeA:2,nodeB:2", "--launch-agent", agent, "--report", "1", "--",
                              "/bin/sh", "-c", "if [ $RANK = 3 ]; then sleep 2; exit 3; fi; sleep 300; : \(marker)"],
                             timeout: 120)
        let seconds = Double(Deadline.now.uptimeNanoseconds - started.uptimeNanoseconds) / 1e9
        #expect(result.status == 3, "\(result.output)")
        #expect(result.output.contains("rank 3 (on nodeB, through the launch agent) exited with status 3"), "\(result.output)")
        #expect(seconds < 30, "the launcher took \(seconds) s")
        // The ranks' far ends stop their programs at once; give them a moment to go.
        var left = ""
        let deadline = Deadline.after(seconds: 10)
        repeat {
            left = try run(["/bin/sh", "-c", "pgrep -f '[:] \(marker)' || true"], timeout: 30).output
            if left.isEmpty { break }
            sleepSeconds(0.2)
        } while !deadline.hasPassed
        #expect(left.isEmpty, "ranks left running: \(left)")
    }
}

/// Writes an executable shell script of `body` to `path`; returns the path.
func writeScript(_ path: String, _ body: String) throws -> String {
    try writeText(path, "#!/bin/sh\n" + body + "\n")
    _ = chmod(path, 0o755)
    return path
}

/// Writes `text` to `path`.
func writeText(_ path: String, _ text: String) throws {
    guard let file = fopen(path, "w") else { throw SystemError(call: "fopen(\(path))", errno: errno) }
    _ = text.utf8CString.withUnsafeBufferPointer { fwrite($0.baseAddress, 1, $0.count - 1, file) }
    fclose(file)
}

/// Hosts emulated by network namespaces on a bridge, links shaped with `tc tbf`
/// (scripts/emulated-cluster.sh): host *i* is namespace `names[i]` at `address(i)`; the
/// launcher serves the store on the bridge, at ``bridgeAddress``.
struct EmulatedCluster {
    let name: String
    let names: [String]
    let subnet: String

    var bridgeAddress: String { subnet + ".254" }
    /// The IPv6 prefix of the same network (`fd88:S`): hosts at `fd88:S::(i+1)`, the bridge at `::fe`.
    var ipv6Subnet: String { "fd88:" + subnet.split(separator: ".").last! }
    func address(_ host: Int) -> String { subnet + ".\(host + 1)" }

    /// `nil` where namespaces cannot be made (not root, no `ip` or `tc`): the caller skips,
    /// except under CI, where they must work.
    static func make(hosts: Int, rate: String) -> EmulatedCluster? {
        guard getuid() == 0 else { return nil }
        let name = "ct\(getpid() % 100_000)"
        let script = Products.repositoryRoot + "/scripts/emulated-cluster.sh"
        guard let result = try? run(["/bin/bash", script, "up", name, String(hosts), rate], timeout: 60), result.status == 0,
              let subnet = result.output.split(separator: "\n").last.map(String.init), subnet.hasPrefix("10.88.") else {
            _ = try? run(["/bin/bash", script, "down", name], timeout: 60)
            return nil
        }
        return EmulatedCluster(name: name, names: (0..<hosts).map { "\(name)\($0)" }, subnet: subnet)
    }

    func remove() {
        _ = try? run(["/bin/bash", Products.repositoryRoot + "/scripts/emulated-cluster.sh", "down", name], timeout: 60)
    }

    /// A launch agent that runs a command in a host's namespace with an empty environment, as
    /// `ssh` gives a remote command an environment of its own.
    static var agent: String {
        let candidates: [String] = ["/usr/sbin/ip", "/sbin/ip", "/usr/bin/ip", "/bin/ip"]
        let ip = candidates.first { path in access(path, X_OK) == 0 } ?? "ip"
        return "/usr/bin/env -i \(ip) netns exec"
    }
}

extension Products {
    /// The package's directory: where `.build` is.
    static var repositoryRoot: String {
        var path = directory
        while !path.isEmpty, !path.hasSuffix("/.build") {
            path = String(path[..<(path.lastIndex(of: "/") ?? path.startIndex)])
        }
        return path.isEmpty ? "." : String(path.dropLast("/.build".count))
    }
}

extension MultiProcessTests {
    /// Two emulated hosts of two ranks each, 1 Gbit/s links, the ranks started by the launcher
    /// through a namespace agent: pairs inside a host use shared memory and pairs across TCP,
    /// every collective is right, and the demo trains to identical parameters on every rank.
    @Test(Capability.required(Capability.namespaces, "emulated hosts need root and iproute2 (ip, tc)"))
    func acrossEmulatedHostsThroughTheLauncher() throws {
        let cluster = try #require(EmulatedCluster.make(hosts: 2, rate: "1gbit"), "the emulated hosts could not be made")
        defer { cluster.remove() }
        let launch = [Products.path("collectives-run"), "--hosts", "\(cluster.names[0]):2,\(cluster.names[1]):2",
                      "--launch-agent", EmulatedCluster.agent, "--master-addr", cluster.bridgeAddress, "--"]
        let result = try run(launch + [Products.path("collectives-check"), "--collectives", "all", "--algorithms", "auto", "hierarchical",
                                       "--counts", "0", "3", "1001", "300007", "--types", "float32", "--ops", "sum", "average"],
                             environment: ["COLLECTIVES_TIMEOUT": "60", "COLLECTIVES_LOG_LEVEL": "debug"], timeout: 300)
        #expect(result.status == 0, "\(result.output)")
        expectSummaries(result.output, ranks: 4, passed: allCollectivesChecks(algorithms: 2, counts: 4, opsPerType: [2]))
        #expect(result.output.contains("rank 0: shared memory with ranks [1] on this host, TCP with ranks [2, 3]"), "\(result.output)")
        #expect(result.output.contains("rank 3: shared memory with ranks [2] on this host, TCP with ranks [0, 1]"), "\(result.output)")
        // Each rank advertised its namespace's address (the local end of its store connection).
        #expect(result.output.contains("rank 2: listening on \(cluster.address(1)):"), "\(result.output)")

        // The same over IPv6: the store on the bridge's IPv6 address, so every rank advertises its own.
        let ipv6 = cluster.ipv6Subnet
        var launch6 = launch
        launch6[launch6.firstIndex(of: cluster.bridgeAddress)!] = ipv6 + "::fe"
        let overIPv6 = try run(launch6 + [Products.path("collectives-check"), "--collectives", "all", "--counts", "0", "3", "1001",
                                          "--types", "float32", "--ops", "sum"],
                               environment: ["COLLECTIVES_TIMEOUT": "60", "COLLECTIVES_LOG_LEVEL": "debug"], timeout: 300)
        #expect(overIPv6.status == 0, "\(overIPv6.output)")
        expectSummaries(overIPv6.output, ranks: 4, passed: allCollectivesChecks(counts: 3, opsPerType: [1]))
        #expect(overIPv6.output.contains("rank 2: listening on [\(ipv6)::2]:"), "\(overIPv6.output)")

        let data = "/tmp/collectives-hosts-train-\(getpid())"
        defer { _ = system("rm -rf '\(data)'") }
        try TrainingProcessTests().writeSmallDataset(data)
        let training = try run(launch + [Products.path("mnist-train"), "--data-dir", data, "--epochs", "2", "--batch-size", "32",
                                         "--hidden", "16"],
                               environment: ["COLLECTIVES_TIMEOUT": "60"], timeout: 300)
        #expect(training.status == 0, "\(training.output)")
        #expect(training.output.contains("parameters identical on all 4 ranks"), "\(training.output)")
    }
}

extension MultiProcessTests {
    /// The same two emulated hosts, the ranks started by OpenMPI's `mpirun` through an rsh agent
    /// that behaves as `ssh` does (the host, then words joined into a command for a shell in that
    /// namespace): the library reads OpenMPI's variables, each host's ranks share memory, and the
    /// collectives and the demo run across.
    /// MPICH's launcher, `mpiexec.hydra`, starting 2 ranks on each of 2 emulated hosts through
    /// an rsh-like agent: the ranks take `PMI_RANK`, `PMI_SIZE` and `MPI_LOCALRANKID` as they
    /// take OpenMPI's variables, and every collective is right.
    @Test(Capability.required(Capability.hydra && Capability.namespaces,
                              "needs MPICH's mpiexec.hydra (scripts/setup.sh --for-tests installs mpich), root and iproute2"))
    func acrossEmulatedHostsThroughHydra() throws {
        let cluster = try #require(EmulatedCluster.make(hosts: 2, rate: "1gbit"), "the emulated hosts could not be made")
        defer { cluster.remove() }
        let directory = "/tmp/collectives-hydra-\(getpid())"
        _ = mkdir(directory, 0o755)
        defer { _ = system("rm -rf '\(directory)'") }
        let ip = EmulatedCluster.agent.split(separator: " ")[2]
        let agent = try writeScript(directory + "/agent", "host=$1\nshift\nexec /usr/bin/env -i \(ip) netns exec \"$host\" /bin/sh -c \"$*\"")
        let port = try freePort()
        let hydra = ["/usr/bin/mpiexec.hydra", "-hosts", "\(cluster.names[0]):2,\(cluster.names[1]):2", "-n", "4",
                     "-launcher", "rsh", "-launcher-exec", agent, "-iface", cluster.name + "br",
                     "-genv", "MASTER_ADDR", cluster.address(0), "-genv", "MASTER_PORT", String(port),
                     "-genv", "COLLECTIVES_JOB_SECRET", "hydra-test", "-genv", "COLLECTIVES_TIMEOUT", "60",
                     "-genv", "COLLECTIVES_LOG_LEVEL", "debug"]
        let result = try run(hydra + [Products.path("collectives-check"), "--collectives", "all", "--counts", "0", "3", "1001", "300007",
                                      "--types", "float32", "--ops", "sum"], timeout: 300)
        #expect(result.status == 0, "\(result.output)")
        expectSummaries(result.output, ranks: 4, passed: allCollectivesChecks(counts: 4, opsPerType: [1]))
        #expect(result.output.contains("rank 1: shared memory with ranks [0] on this host, TCP with ranks [2, 3]"), "\(result.output)")
        #expect(result.output.contains("rank 2: shared memory with ranks [3] on this host, TCP with ranks [0, 1]"), "\(result.output)")
    }

    @Test(Capability.required(Capability.mpirun && Capability.namespaces,
                              "needs /usr/bin/mpirun (Debian's openmpi-bin), and root with iproute2 for the emulated hosts"))
    func acrossEmulatedHostsThroughMpirun() throws {
        #expect(Capability.mpirun, "no /usr/bin/mpirun: scripts/setup.sh --for-tests installs openmpi-bin")
        let cluster = try #require(EmulatedCluster.make(hosts: 2, rate: "1gbit"), "the emulated hosts could not be made")
        defer { cluster.remove() }
        let directory = "/tmp/collectives-mpirun-\(getpid())"
        _ = mkdir(directory, 0o755)
        defer { _ = system("rm -rf '\(directory)'") }
        let ip = EmulatedCluster.agent.split(separator: " ")[2]
        // Each emulated host gets a session directory of its own: they share /tmp and the host
        // name, and two orteds creating /tmp/ompi.HOST.UID/jf.N/0/… at once failed here once
        // with "mkdir … File exists".
        let agent = try writeScript(directory + "/agent", "host=$1\nshift\nmkdir -p \(directory)/$host\n"
                                    + "export OMPI_MCA_orte_tmpdir_base=\(directory)/$host\n"
                                    + "exec \(ip) netns exec \"$host\" /bin/sh -c \"$*\"")
        let port = try freePort()
        let mpirun = ["/usr/bin/mpirun", "--host", "\(cluster.names[0]):2,\(cluster.names[1]):2", "-np", "4",
                      "--mca", "plm_rsh_agent", agent, "--mca", "oob_tcp_if_include", cluster.subnet + ".0/24", "--mca", "btl", "self",
                      // OpenMPI 4.1.4's orted crashed in 3 of 20 starts here writing its hwloc
                      // topology to shared memory (hwloc_shmem_topology_write), 0 of 20 without it.
                      "--mca", "rtc", "^hwloc",
                      "-x", "MASTER_ADDR=\(cluster.address(0))", "-x", "MASTER_PORT=\(port)", "-x", "COLLECTIVES_JOB_SECRET",
                      "-x", "COLLECTIVES_TIMEOUT=60", "-x", "COLLECTIVES_LOG_LEVEL"]
        let environment = ["OMPI_ALLOW_RUN_AS_ROOT": "1", "OMPI_ALLOW_RUN_AS_ROOT_CONFIRM": "1",
                           "COLLECTIVES_JOB_SECRET": "mpirun-test", "COLLECTIVES_LOG_LEVEL": "debug"]
        let result = try run(mpirun + [Products.path("collectives-check"), "--collectives", "all", "--counts", "0", "3", "1001", "300007",
                                       "--types", "float32", "--ops", "sum"], environment: environment, timeout: 300)
        #expect(result.status == 0, "\(result.output)")
        expectSummaries(result.output, ranks: 4, passed: allCollectivesChecks(counts: 4, opsPerType: [1]))
        #expect(result.output.contains("rank 1: shared memory with ranks [0] on this host, TCP with ranks [2, 3]"), "\(result.output)")
        #expect(result.output.contains("rank 2: shared memory with ranks [3] on this host, TCP with ranks [0, 1]"), "\(result.output)")

        try TrainingProcessTests().writeSmallDataset(directory)
        let training = try run(mpirun + [Products.path("mnist-train"), "--data-dir", directory, "--epochs", "2", "--batch-size", "32",
                                         "--hidden", "16"], environment: environment, timeout: 300)
        #expect(training.status == 0, "\(training.output)")
        #expect(training.output.contains("parameters identical on all 4 ranks"), "\(training.output)")
    }
}

extension MultiProcessTests {
    /// A one-node Slurm (scripts/one-node-slurm.sh: private munge, slurmctld and slurmd): `srun`
    /// starts the checker, the benchmark and the demo; the library takes rank, world, the store's
    /// address (the job's first node, a port from the job id) and the ranks per host from Slurm's
    /// variables alone.
    @Test(Capability.required(Capability.slurm, "a one-node Slurm needs root and srun, sinfo, slurmctld, slurmd, munged (Debian: slurmctld slurmd slurm-client munge)"))
    func underSlurm() throws {
        let missing = Capability.slurmTools.filter { !Capability.tool($0) }
        try #require(missing.isEmpty && Capability.root, "missing for Slurm: \(missing), root: \(Capability.root)")
        let directory = "/tmp/collectives-slurm-\(getpid())"
        let script = Products.repositoryRoot + "/scripts/one-node-slurm.sh"
        defer {
            _ = try? run(["/bin/bash", script, "down", directory], timeout: 60)
            _ = system("rm -rf '\(directory)'")
        }
        let up = try run(["/bin/bash", script, "up", directory, "4"], timeout: 60)
        try #require(up.status == 0, "the one-node Slurm did not start: \(up.output)")
        // srun passes its environment on; the ranks get none of the other launchers' variables.
        let environment = ["SLURM_CONF": directory + "/slurm.conf", "COLLECTIVES_TIMEOUT": "60", "COLLECTIVES_LOG_LEVEL": "debug"]
        let srun = ["/usr/bin/srun", "-n", "4", "--time", "5"]
        let check = try run(srun + ["/usr/bin/env", "-u", "MASTER_ADDR", "-u", "MASTER_PORT", "-u", "LOCAL_WORLD_SIZE", "-u", "COLLECTIVES_STORE",
                                    Products.path("collectives-check"), "--collectives", "all", "--counts", "0", "3", "1001",
                                    "--types", "float32", "--ops", "sum"], environment: environment, timeout: 180)
        #expect(check.status == 0, "\(check.output)")
        expectSummaries(check.output, ranks: 4, passed: allCollectivesChecks(counts: 3, opsPerType: [1]))
        #expect(check.output.contains("4 ranks on this host (host 0 of 1), 4 counted for waits"), "\(check.output)")

        let bench = try run(srun + ["/usr/bin/env", "-u", "MASTER_ADDR", "-u", "MASTER_PORT", "-u", "LOCAL_WORLD_SIZE", "-u", "COLLECTIVES_STORE",
                                    Products.path("collectives-bench"), "-b", "1K", "-e", "1M", "-f", "32", "-n", "3", "-w", "1", "-c", "1"],
                            environment: environment, timeout: 180)
        #expect(bench.status == 0, "\(bench.output)")
        let rows = bench.output.split(separator: "\n").filter { $0.hasPrefix(" ") && $0.contains("float32") }
        #expect(rows.count == 3 && rows.allSatisfy { $0.split(separator: " ").contains("0") }, "\(bench.output)")

        let data = directory + "/data"
        try TrainingProcessTests().writeSmallDataset(data)
        let training = try run(srun + ["/usr/bin/env", "-u", "MASTER_ADDR", "-u", "MASTER_PORT", "-u", "LOCAL_WORLD_SIZE", "-u", "COLLECTIVES_STORE",
                                       Products.path("mnist-train"), "--data-dir", data, "--epochs", "2", "--batch-size", "32", "--hidden", "16"],
                               environment: environment, timeout: 180)
        #expect(training.status == 0, "\(training.output)")
        #expect(training.output.contains("parameters identical on all 4 ranks"), "\(training.output)")
    }
}

