import CollectivesSystem
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// The flight recorder across processes: a job that hangs because one rank stops calling
/// (`hang-demo`), and the launcher's report of it.
extension MultiProcessTests {
    /// The report on a hang: the line that names the rank behind and the call it never reached.
    static let behindLine = "rank 2 is behind: it has not reached all-reduce #6 (1005 × float32, sum, ring), which ranks 0, 1, 3 are in"

    /// Rank 2 of 4 stops before its sixth all-reduce. The others time out in it and write their
    /// recorders; `--dump-on-timeout` asks rank 2 for its own (SIGUSR1) and the launcher says rank
    /// 2 is behind, its last call, and whom each other rank waited on. `--analyze` says the same
    /// from the files afterwards.
    @Test func theFlightRecorderNamesTheRankThatHangs() throws {
        let directory = "/tmp/collectives-flight-\(getpid())"
        defer { _ = system("rm -rf '\(directory)'") }
        let result = try run([Products.path("collectives-run"), "-n", "4", "--dump-on-timeout", "--dump-dir", directory, "--",
                              Products.path("hang-demo"), "2", "5"],
                             environment: ["COLLECTIVES_TIMEOUT": "3", "COLLECTIVES_ALGORITHM": "ring"], timeout: 120)
        #expect(result.status == 1, "\(result.output)")
        #expect(result.output.contains("collectives-run: flight recorder, 4 dumps in \(directory):"), "\(result.output)")
        #expect(result.output.contains(Self.behindLine), "\(result.output)")
        #expect(result.output.contains("last call all-reduce #5 (1004 × float32, sum, ring), done"), "\(result.output)")
        #expect(result.output.contains("rank 3 (pid "), "\(result.output)")
        #expect(result.output.contains("failed, waiting on rank 2: rank 3: all-reduce #6"), "\(result.output)")
        for rank in 0..<4 {
            let text = try TrainingProcessTests().readFile(directory + "/collectives-flight-c0-rank\(rank).json")
            #expect(text.contains("\"reason\" : \"\(rank == 2 ? "signal" : "timeout")\""), "rank \(rank): \(text.prefix(400))")
        }
        let analyzed = try run([Products.path("collectives-run"), "--analyze", directory], timeout: 60)
        #expect(analyzed.status == 0 && analyzed.output.contains(Self.behindLine), "\(analyzed.output)")
        let nothing = try run([Products.path("collectives-run"), "--analyze", directory + "/none"], timeout: 60)
        #expect(nothing.status == 1 && nothing.output.contains("cannot read the flight-recorder dumps in \(directory)/none"), "\(nothing.output)")
    }

    /// While the job hangs (its timeout far off), SIGUSR1 to the launcher reaches every rank: each
    /// writes its recorder without stopping, and two seconds later the launcher says rank 2 is
    /// behind while the others are still running in the call it never reached.
    @Test func aSignalToTheLauncherDumpsEveryRankOfAHungJob() throws {
        let directory = "/tmp/collectives-flight-signal-\(getpid())"
        _ = mkdir(directory, 0o755)
        defer { _ = system("rm -rf '\(directory)'") }
        let log = directory + "/launcher.log"
        // Waits for an event in the log (bounded), never for a fixed time.
        let script = """
        export COLLECTIVES_TIMEOUT=120 COLLECTIVES_ALGORITHM=ring
        '\(Products.path("collectives-run"))' -n 4 --dump-dir '\(directory)' -- '\(Products.path("hang-demo"))' 2 5 > '\(log)' 2>&1 &
        launcher=$!
        waitfor() { i=0; while ! grep -q "$1" '\(log)'; do i=$((i + 1)); [ $i -gt 600 ] && return 1; sleep 0.1; done; }
        waitfor 'stuck after 5' || echo 'never stuck'
        kill -USR1 $launcher
        waitfor 'is behind' || echo 'no report'
        kill -TERM $launcher
        wait $launcher
        echo "launcher ended $?"
        cat '\(log)'
        """
        let result = try run(["/bin/sh", "-c", script], timeout: 180)
        #expect(!result.output.contains("never stuck") && !result.output.contains("no report"), "\(result.output)")
        #expect(result.output.contains(Self.behindLine), "\(result.output)")
        let lines = result.output.split(separator: "\n")
        for rank in [0, 1, 3] {
            #expect(lines.contains { $0.contains("rank \(rank) (pid ") && $0.hasSuffix("): running") }, "rank \(rank):\n\(result.output)")
        }
        #expect(result.output.contains("stopped every rank after signal 15 (SIGTERM)"), "\(result.output)")
        #expect(!result.output.contains("timed out"), "a rank timed out: the signal must not end a call\n\(result.output)")
    }
}

extension MultiProcessTests {
    /// Logging as `NCCL_DEBUG_SUBSYS` users expect: `COLLECTIVES_LOG_SUBSYS=bootstrap` keeps the
    /// set-up's debug lines and drops the others', `COLLECTIVES_LOG_FILE=…-%r.log` writes each
    /// rank's lines to a file of its own (not to the terminal), every line carries the rank as
    /// metadata, and a failure is reported once (by the program that got it), not logged again.
    @Test func logsBySubsystemToAFilePerRankAndAFailureOnce() throws {
        let directory = "/tmp/collectives-logs-\(getpid())"
        _ = mkdir(directory, 0o755)
        defer { _ = system("rm -rf '\(directory)'") }
        let result = try run([Products.path("collectives-run"), "-n", "3", "--", Products.path("collectives-check"),
                              "--collectives", "all-reduce", "broadcast", "--counts", "0", "5"],
                             environment: ["COLLECTIVES_LOG_LEVEL": "debug", "COLLECTIVES_LOG_SUBSYS": "bootstrap",
                                           "COLLECTIVES_LOG_FILE": directory + "/log-%r.txt"], timeout: 120)
        #expect(result.status == 0, "\(result.output)")
        #expect(!result.output.contains("[CollectivesBootstrap]"), "log lines reached the terminal:\n\(result.output)")
        for rank in 0..<3 {
            let log = try TrainingProcessTests().readFile(directory + "/log-\(rank).txt")
            let lines = log.split(separator: "\n")
            #expect(lines.contains { $0.contains("debug collectives: rank=\(rank) [CollectivesBootstrap] rank \(rank): listening on") }, "rank \(rank):\n\(log)")
            #expect(lines.allSatisfy { $0.contains("[CollectivesBootstrap]") }, "another subsystem's line in rank \(rank)'s log:\n\(log)")
        }

        // A timeout: each rank that timed out says so once, in the program's words.
        let failed = try run([Products.path("collectives-run"), "-n", "3", "--", Products.path("hang-demo"), "2", "1"],
                             environment: ["COLLECTIVES_TIMEOUT": "2", "COLLECTIVES_ALGORITHM": "ring", "COLLECTIVES_LOG_LEVEL": "debug",
                                           "COLLECTIVES_LOG_SUBSYS": "^collectives"], timeout: 120)
        #expect(failed.status == 1, "\(failed.output)")
        for rank in [0, 1] {
            let mentions = failed.output.split(separator: "\n").filter { $0.hasPrefix("[rank \(rank)]") && $0.contains("all-reduce #2 (1001 × float32") }
            #expect(mentions.count == 1, "rank \(rank) reported its failure \(mentions.count) times:\n\(failed.output)")
        }
    }
}
