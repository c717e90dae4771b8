import CollectivesSystem
import CommandLineSupport

/// The far end of a rank started through a launch agent (`ssh HOST collectives-run --remote-rank
/// -- PROGRAM…`): it reads the rank's environment from its standard input (so the job secret is
/// never on a command line, where `ps` on either host would show it), starts the program in the
/// launcher's working directory, and stops it when its standard input closes, which is how it
/// learns that the launcher, or the agent's connection, has gone.
enum RemoteRank {
    /// The variable that carries the launcher's working directory (not passed to the program).
    static let workingDirectoryVariable = EnvironmentVariable.runDirectory.name

    /// The variables a rank started through an agent receives: the job's (`RANK`, `WORLD_SIZE`,
    /// `LOCAL_RANK`, `LOCAL_WORLD_SIZE`, `MASTER_ADDR`, `MASTER_PORT`), every `COLLECTIVES_*`, the
    /// thread counts of OpenMP and OpenBLAS, and the names given with `-x`.
    static func forwarded(_ environment: [String: String], exporting names: [String]) -> [String: String] {
        let job: Set<String> = ["RANK", "WORLD_SIZE", "LOCAL_RANK", "LOCAL_WORLD_SIZE", "MASTER_ADDR", "MASTER_PORT",
                                "OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS"]
        let exported = Set(names)
        return environment.filter { job.contains($0.key) || $0.key.hasPrefix("COLLECTIVES_") || exported.contains($0.key) }
    }

    /// Whether `agent` hands its command to a shell on the host as one line, as `ssh` and `rsh`
    /// do (so each word must be quoted for that shell), rather than running it as given.
    static func agentUsesShell(_ agent: [String]) -> Bool {
        // Any word: `timeout 30 ssh`, `sshpass -e ssh`, `env … ssh` run ssh too.
        agent.contains { word in
            guard let program = word.split(separator: "/").last else { return false }
            return program.hasSuffix("ssh") || program.hasSuffix("rsh")
        }
    }

    /// `word` as a POSIX shell reads it back: unchanged when it has only characters no shell
    /// treats specially (and does not start with `=`, which zsh expands), else in single quotes.
    static func shellQuoted(_ word: String) -> String {
        let plain = !word.isEmpty && !word.hasPrefix("=") && word.unicodeScalars.allSatisfy { scalar in
            (scalar >= "a" && scalar <= "z") || (scalar >= "A" && scalar <= "Z") || (scalar >= "0" && scalar <= "9")
                || "@%+=:,./_-".unicodeScalars.contains(scalar)
        }
        if plain { return word }
        return "'" + word.split(separator: "'", omittingEmptySubsequences: false).joined(separator: "'\\''") + "'"
    }

    /// `NAME=VALUE` records, each ended by a NUL, then an empty record.
    static func encode(_ environment: [String: String]) -> [UInt8] {
        var bytes: [UInt8] = []
        for (key, value) in environment.sorted(by: { $0.key < $1.key }) {
            bytes += Array("\(key)=\(value)".utf8) + [0]
        }
        return bytes + [0]
    }

    /// Reads records from `descriptor` up to the empty one; `nil` if the input ends first.
    static func readEnvironment(from descriptor: Int32) -> [String: String]? {
        var result: [String: String] = [:]
        var record: [UInt8] = []
        var byte: UInt8 = 0
        while true {
            let read = withUnsafeMutableBytes(of: &byte) { try? Descriptors.readSome(descriptor, into: $0) }
            guard case .done(1) = read else { return nil }
            if byte != 0 {
                record.append(byte)
                continue
            }
            if record.isEmpty { return result }
            let text = String(decoding: record, as: UTF8.self)
            if let equals = text.firstIndex(of: "=") {
                result[String(text[..<equals])] = String(text[text.index(after: equals)...])
            }
            record.removeAll()
        }
    }

    /// Runs `command` as the rank; returns the exit code to exit with (128 + signal when the
    /// program was killed).
    static func run(command: [String], grace: Double, binding: CoreBinding, reportBindings: Bool) -> Int32 {
        guard let received = readEnvironment(from: 0) else {
            Console.error("collectives-run --remote-rank: the launcher closed the connection before sending the environment")
            return 1
        }
        var environment = ProcessEnvironment.current()
        for (key, value) in received where key != workingDirectoryVariable { environment[key] = value }
        if let directory = received[workingDirectoryVariable] {
            do {
                try FileSystem.changeDirectory(to: directory)
            } catch {
                Console.error("collectives-run --remote-rank: cannot enter \(directory) (\(error.cause)); staying in the agent's directory")
            }
        }
        installSignalForwarding()
        let child: ChildProcess
        do {
            if let core = binding.core(localRank: environment["LOCAL_RANK"].flatMap { Int($0) } ?? 0, of: allowedCores()) {
                child = try withThreadBound(to: core) { try spawnProgram(command, environment: environment) }
                if reportBindings {
                    reportBinding(rank: environment["RANK"] ?? "?", pid: child.pid, core: core)
                }
            } else {
                child = try spawnProgram(command, environment: environment)
            }
        } catch {
            Console.error("collectives-run --remote-rank: \(error)")
            return 127
        }
        return superviseProgram(child, grace: grace)
    }

    /// Waits for the program to end, passing on the stop signals the agent gets, and stops it
    /// when standard input closes; returns its exit code.
    private static func superviseProgram(_ child: ChildProcess, grace: Double) -> Int32 {
        var stopping: Deadline?
        var input = PollSet()
        input.add(0, waitingFor: .readable)
        var inputOpen = true
        while true {
            if let status = child.exitStatus() {
                // What the program left behind would hold the agent's connection open.
                signalGroup(child, .terminate)
                return status.code
            }
            let signalled = stopSignal.exchange(0, ordering: .relaxed)
            if signalled != 0 {
                signalGroup(child, Signal(signalled))
                stopping = stopping ?? .after(seconds: grace)
            }
            if let deadline = stopping, deadline.hasPassed {
                signalGroup(child, .kill)
                stopping = .after(seconds: 3600)
            }
            if inputOpen {
                input.wait(timeoutNanoseconds: 100_000_000)
                if !input.found(at: 0).isEmpty && inputHasEnded() {
                    // The launcher (or the agent's connection) is gone: stop the rank.
                    inputOpen = false
                    signalGroup(child, .terminate)
                    stopping = stopping ?? .after(seconds: grace)
                }
            } else {
                sleepSeconds(0.05)
            }
        }
    }

    /// Reads what standard input holds; whether it has ended (closed, or failed).
    private static func inputHasEnded() -> Bool {
        var scratch = [UInt8](repeating: 0, count: 256)
        do {
            guard case .done(let count) = try scratch.withUnsafeMutableBytes({ (buffer) throws(SystemError) in
                try Descriptors.readSome(0, into: buffer)
            }) else { return false }
            return count == 0
        } catch {
            return true
        }
    }

    /// Signals the program's process group (or the program alone, if that fails).
    private static func signalGroup(_ child: ChildProcess, _ signal: Signal) {
        if !child.sendToGroup(signal) { child.send(signal) }
    }

    private static func spawnProgram(_ command: [String], environment: [String: String]) throws -> ChildProcess {
        try ChildProcess.startInOwnGroup(command, environment: environment, input: .nullDevice)
    }
}
