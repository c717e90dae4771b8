import ArgumentParser
import CollectivesRendezvous
import CollectivesSystem
import CommandLineSupport

/// torchrun's one-launcher-per-node model: `collectives-run --nnodes N --node-rank R
/// --nproc-per-node K --rdzv-endpoint HOST:PORT -- PROGRAM…` on each of N nodes starts that
/// node's K ranks (`RANK` = R·K + local rank). Node 0's launcher serves the job's store at the
/// endpoint's port on every address; the launchers meet there before any rank starts (every
/// node must say the same K), and node 0 keeps the store until every node's ranks have ended.
struct NodeLayout {
    let nodes: Int
    let nodeRank: Int
    let ranksPerNode: Int
    /// The endpoint's host (a name or an address) and port.
    let host: String
    let port: UInt16

    var worldSize: Int { nodes * ranksPerNode }
    var firstRank: Int { nodeRank * ranksPerNode }
}

/// Why the launchers of a per-node job could not meet or finish together.
struct NodeRendezvousError: Error, CustomStringConvertible {
    let description: String
}

extension Launcher {
    /// The node layout of per-node mode (`--nproc-per-node` with more than one node, or with an
    /// endpoint), or `nil` for the other modes.
    var nodeLayout: NodeLayout? {
        guard let ranksPerNode = nprocPerNode, (nnodes ?? 1) > 1 || rdzvEndpoint != nil else { return nil }
        let endpoint = rdzvEndpoint.flatMap(HostList.hostAndPort)
            ?? masterAddress.map { ($0, masterPort ?? 29500) }
        guard let endpoint else { return nil }
        return NodeLayout(nodes: nnodes ?? 1, nodeRank: nodeRank ?? 0, ranksPerNode: ranksPerNode, host: endpoint.0, port: endpoint.1)
    }

    /// Checks the per-node options: each is in range, and none of the other modes' options is given.
    func validatePerNode() throws {
        guard nprocPerNode != nil || nnodes != nil || nodeRank != nil || rdzvEndpoint != nil else { return }
        guard let perNode = nprocPerNode else { throw ValidationError("--nnodes, --node-rank and --rdzv-endpoint go with --nproc-per-node K") }
        guard perNode >= 1, perNode <= 1024 else { throw ValidationError("--nproc-per-node must be 1 to 1024, got \(perNode)") }
        guard ranks == nil, hosts == nil, hostfile == nil, join == nil, !elastic else {
            throw ValidationError("--nproc-per-node starts this node's ranks: no -n, --hosts, --hostfile, --join or --elastic with it")
        }
        let nodes = nnodes ?? 1
        guard nodes >= 1 else { throw ValidationError("--nnodes must be at least 1, got \(nodes)") }
        let node = nodeRank ?? 0
        guard node >= 0, node < nodes else { throw ValidationError("--node-rank \(node) is not below --nnodes \(nodes)") }
        if let rdzvEndpoint {
            guard HostList.hostAndPort(rdzvEndpoint) != nil else {
                throw ValidationError("--rdzv-endpoint takes HOST:PORT, such as node0:29500 or [fd00::1]:29500; got \(rdzvEndpoint)")
            }
        } else if nodes > 1 && masterAddress == nil {
            throw ValidationError("--nnodes \(nodes): give every node's launcher the same --rdzv-endpoint HOST:PORT (node 0's address)")
        }
    }

    /// Runs this node's ranks of a per-node job.
    func runPerNode(_ layout: NodeLayout) throws {
        var environment = ProcessEnvironment.current()
        let secretText = environment[EnvironmentVariable.jobSecret.name] ?? ""
        let secret = secretText.isEmpty ? JobSecret.none : JobSecret(secretText)
        let timeout = try rendezvousTimeout(environment)
        let server = try serveStoreIfNodeZero(layout, secret: secret)
        defer { server?.close() }
        let store = try connectToEndpoint(layout, secret: secret, timeout: timeout)
        defer { store.close() }
        try meet(layout, store: store, timeout: timeout)

        pointRanks(&environment, atStore: layout.host, port: layout.port)
        environment["WORLD_SIZE"] = String(layout.worldSize)
        environment["LOCAL_WORLD_SIZE"] = String(layout.ranksPerNode)
        environment["GROUP_RANK"] = String(layout.nodeRank)
        let group = RankGroup(prefixOutput: !noPrefix, grace: grace, report: report, files: outputFiles)
        group.flight = flightReport(&environment)
        let ranks = layout.firstRank..<(layout.firstRank + layout.ranksPerNode)
        try openOutputFiles(group, ranks)
        installSignalForwarding()
        let cores = allowedCores()
        for rank in ranks {
            let localRank = rank - layout.firstRank
            environment["RANK"] = String(rank)
            environment["LOCAL_RANK"] = String(localRank)
            let core = bindTo.core(localRank: localRank, of: cores)
            let pid = try group.spawnOrStopAll(rank: rank, command: command, environment: environment, core: core)
            if let core, reportBindings { reportBinding(rank: String(rank), pid: pid, core: core) }
        }
        let outcome = group.waitForAll()
        try finish(layout, store: store, outcome: outcome, timeout: timeout)
    }

    /// The rendezvous bound: `COLLECTIVES_TIMEOUT` seconds where set, else 600 (torchrun's join
    /// timeout). A value that is not a positive number stops the launcher, naming it, as it
    /// would stop the ranks.
    private func rendezvousTimeout(_ environment: [String: String]) throws -> Double {
        do {
            return try LaunchConfiguration.timeoutSeconds(setIn: environment) ?? 600
        } catch {
            let text = environment[EnvironmentVariable.timeout.name] ?? ""
            Console.error("collectives-run: COLLECTIVES_TIMEOUT=\(text) is not a positive number of seconds")
            throw ExitCode(2)
        }
    }

    /// Node 0 serves the job's store on the endpoint's port, on every address of its family
    /// (the endpoint may name the host, or an address behind a router).
    private func serveStoreIfNodeZero(_ layout: NodeLayout, secret: JobSecret) throws -> TCPStoreServer? {
        guard layout.nodeRank == 0 else { return nil }
        let wildcard = layout.host.contains(":") ? "::" : "0.0.0.0"
        do {
            return try TCPStoreServer(listeningOn: SocketAddress(parsing: wildcard, defaultPort: layout.port)!, secret: secret)
        } catch {
            Console.error("collectives-run: node 0 cannot serve the rendezvous store on port \(layout.port): \(error)")
            throw ExitCode(1)
        }
    }

    /// Connects to the store at the endpoint, retrying until `timeout` (node 0 may start later).
    private func connectToEndpoint(_ layout: NodeLayout, secret: JobSecret, timeout: Double) throws -> TCPStore {
        do {
            let addresses = try SocketAddress.resolve(host: layout.host, port: layout.port)
            guard let address = addresses.first else { throw NodeRendezvousError(description: "\(layout.host) has no address") }
            let store = try TCPStore(connectingTo: address, deadline: .after(seconds: timeout), secret: secret)
            store.callTimeoutSeconds = timeout
            return store
        } catch {
            Console.error("collectives-run: node \(layout.nodeRank) cannot reach the rendezvous endpoint \(layout.host):\(layout.port) within \(formatSeconds(timeout)): \(error)")
            throw ExitCode(1)
        }
    }

    /// Every node's launcher says it arrived, with its host and ranks per node, and waits for
    /// all the others; a node that does not come in time, or brings another number of ranks,
    /// stops the launch before any rank starts.
    private func meet(_ layout: NodeLayout, store: TCPStore, timeout: Double) throws {
        let keys = (0..<layout.nodes).map(StoreKeys.nodeArrival)
        do {
            try store.set(StoreKeys.nodeArrival(layout.nodeRank), string: "\(layout.ranksPerNode) \(thisHostName())")
            try store.wait(keys, deadline: .after(seconds: timeout))
            for node in 0..<layout.nodes {
                let words = try store.getString(StoreKeys.nodeArrival(node), deadline: .after(seconds: timeout)).split(separator: " ", maxSplits: 1)
                guard words.first.flatMap({ Int($0) }) == layout.ranksPerNode else {
                    throw NodeRendezvousError(description: "node \(node) (on \(words.last ?? "?")) has --nproc-per-node \(words.first ?? "?"), this node \(layout.ranksPerNode): give every node the same")
                }
            }
        } catch let error as NodeRendezvousError {
            Console.error("collectives-run: node \(layout.nodeRank): \(error)")
            throw ExitCode(1)
        } catch {
            let missing = (0..<layout.nodes).filter { !((try? store.check([StoreKeys.nodeArrival($0)])) ?? false) }
            let which = missing.isEmpty ? "" : ": node\(missing.count == 1 ? "" : "s") \(missing.map(String.init).joined(separator: ", ")) of \(layout.nodes) did not come"
            Console.error("collectives-run: node \(layout.nodeRank): the launchers did not all meet at \(layout.host):\(layout.port) within \(formatSeconds(timeout))\(which) (\(error))")
            throw ExitCode(1)
        }
    }

    /// Says how this node's ranks ended; node 0 then keeps the store up until every node has
    /// said so, and reports the other nodes' failures.
    private func finish(_ layout: NodeLayout, store: TCPStore, outcome: RankFailure?, timeout: Double) throws {
        let said = outcome.map { "node \(layout.nodeRank): \($0.description)" } ?? "ok"
        var othersFailed = false
        do {
            try store.set(StoreKeys.nodeEnd(layout.nodeRank), string: said)
            if layout.nodeRank == 0 && layout.nodes > 1 {
                let others = (1..<layout.nodes).map(StoreKeys.nodeEnd)
                try store.wait(others, deadline: .after(seconds: timeout))
                for key in others {
                    let end = try store.getString(key, deadline: .after(seconds: timeout))
                    if end != "ok" {
                        Console.error("collectives-run: \(end)")
                        othersFailed = true
                    }
                }
            }
        } catch {
            Console.error("collectives-run: node \(layout.nodeRank): not every node said how its ranks ended within \(formatSeconds(timeout)) (\(error))")
            othersFailed = true
        }
        if let outcome {
            Console.error("collectives-run: \(outcome.description)")
            throw ExitCode(outcome.exitCode)
        }
        if othersFailed { throw ExitCode(1) }
    }
}

/// `12 s`, `0.5 s`.
func formatSeconds(_ seconds: Double) -> String {
    seconds == seconds.rounded() ? "\(Int(seconds)) s" : "\(seconds) s"
}
