import ArgumentParser
import CollectivesRendezvous
import CollectivesSystem
import CommandLineSupport

extension Launcher {
    /// Serves the job's rendezvous store at `masterAddress` from the launcher itself (so that
    /// it outlives any rank and no rank races for the port), under the job's secret, which is
    /// made here when `environment` holds none.
    func serveStore(_ masterAddress: String, environment: inout [String: String]) throws -> TCPStoreServer {
        guard let address = SocketAddress(parsing: masterAddress, defaultPort: masterPort ?? 0) else {
            throw ValidationError("--master-addr \(masterAddress) is not a numeric address")
        }
        // Every connection of the job proves it knows this secret; make one if none was given.
        let secretText = environment[EnvironmentVariable.jobSecret.name].flatMap { $0.isEmpty ? nil : $0 } ?? JobSecret.generate()
        environment[EnvironmentVariable.jobSecret.name] = secretText
        var ports: PortRange?
        if let text = environment[EnvironmentVariable.portRange.name], !text.isEmpty {
            guard let range = PortRange(text) else { throw ValidationError("COLLECTIVES_PORT_RANGE=\(text) is not lo-hi") }
            ports = range
        }
        do {
            return try TCPStoreServer(listeningOn: address, ports: ports, secret: JobSecret(secretText))
        } catch {
            Console.error("collectives-run: \(error)")
            throw ExitCode(1)
        }
    }

    /// Starts every rank, here or (with `placement`) on its host through the launch agent.
    func startRanks(_ ranks: Int, placement: [String]?, environment: [String: String], in group: RankGroup) throws {
        let cores = allowedCores()
        let remote = try RemoteLaunch(agent: launchAgent.split(separator: " ").map(String.init), launcherPath: executablePath(),
                                      directory: currentDirectory())
        for rank in 0..<ranks {
            var rankEnvironment = environment
            rankEnvironment["RANK"] = String(rank)
            rankEnvironment["LOCAL_RANK"] = String(rank)
            var rankCommand = command
            var input: [UInt8]?
            if let placement {
                let host = placement[rank]
                let sameHost = placement.indices.filter { placement[$0] == host }
                rankEnvironment["LOCAL_RANK"] = String(sameHost.firstIndex(of: rank)!)
                rankEnvironment["LOCAL_WORLD_SIZE"] = String(sameHost.count)
                // The launcher knows which ranks share a host: say so (an agent such as
                // `ip netns exec` gives each rank a namespace of its own, which would read as
                // another host).
                if rankEnvironment[EnvironmentVariable.hostID.name] == nil { rankEnvironment[EnvironmentVariable.hostID.name] = host }
                if !HostList.isThisHost(host) {
                    (rankCommand, input) = remoteStart(on: host, environment: rankEnvironment, through: remote)
                }
            }
            // A rank started through the agent is bound by its far end, on that host's cores.
            let core = input == nil ? bindTo.core(localRank: Int(rankEnvironment["LOCAL_RANK"]!)!, of: cores) : nil
            let pid = try group.spawnOrStopAll(rank: rank, command: rankCommand, environment: rankEnvironment, input: input,
                                               host: placement?[rank], core: core)
            if let core, reportBindings { reportBinding(rank: String(rank), pid: pid, core: core) }
        }
    }

    /// The agent's command that starts this launcher's far end on `host`, and the environment
    /// it reads from its standard input.
    private func remoteStart(on host: String, environment: [String: String], through remote: RemoteLaunch) -> ([String], [UInt8]) {
        var forwarded = RemoteRank.forwarded(environment, exporting: exports.map { String($0.prefix { $0 != "=" }) })
        for export in exports where export.contains("=") {
            forwarded[String(export.prefix { $0 != "=" })] = String(export.drop { $0 != "=" }.dropFirst())
        }
        forwarded[RemoteRank.workingDirectoryVariable] = remote.directory
        let farEnd = [remote.launcherPath, "--remote-rank", "--grace", String(grace), "--bind-to", bindTo.rawValue]
            + (reportBindings ? ["--report-bindings"] : []) + ["--"] + command
        // ssh joins its words into one line for the remote shell: quote them for it.
        let agent = remote.agent
        return (agent + [host] + (RemoteRank.agentUsesShell(agent) ? farEnd.map(RemoteRank.shellQuoted) : farEnd),
                RemoteRank.encode(forwarded))
    }
}

/// How ranks on other hosts are started: the agent's words, this executable's path (their far
/// end) and the working directory they enter.
struct RemoteLaunch {
    let agent: [String]
    let launcherPath: String
    let directory: String
}
