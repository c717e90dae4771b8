import CollectivesSystem
import CollectivesTransport
import Logging

/// Makes the data transport of a group whose TCP mesh is up: which transport carries each pair
/// of ranks is decided here, below the collectives, which see only `any Transport`.
package enum TransportFactory {
    /// Chooses the data transport (``TransportChoice``) once the TCP mesh is up: shared memory
    /// when every rank is on this host (set up over the TCP connections, which are then closed);
    /// across hosts, shared memory among the ranks of each host and, between hosts, RDMA verbs
    /// where every rank has a device, else TCP (``RoutedTransport``). Every rank learns every rank's
    /// host identity first and every outcome before data moves. The choice is logged at debug
    /// level; a fallback that the settings did not ask for is logged once, on rank 0, at notice
    /// level.
    ///
    /// Returns the transport and the host of every rank (numbered in order of first rank). The
    /// wait policy counts `localWorldSize` ranks on this host when the launcher said so, else the
    /// ranks whose host identity is this one's.
    package static func make(over tcp: TCPTransport, jobID: UInt64, settings: BootstrapSettings, localWorldSize: Int?,
                            deadline: Deadline) throws(BootstrapError) -> (transport: any Transport, hosts: [Int]) {
        let survey = try HostSurvey(over: tcp, settings: settings, deadline: deadline)
        survey.warnIfUnprotected(secret: settings.tcp.secret)
        let localRanks = localWorldSize ?? survey.ranksOnThisHost.count
        tcp.waitPolicy = settings.waitPolicy(localRanks)
        settings.logger.debug("rank \(tcp.rank): \(survey.ranksOnThisHost.count) ranks on this host (host \(survey.hosts[tcp.rank]) of \(survey.hostCount)), \(localRanks) counted for waits, \(WaitPolicy.availableCores) cores: waits \(tcp.waitPolicy)")
        let choice = MediaChoice(tcp: tcp, jobID: jobID, settings: settings, survey: survey, deadline: deadline)
        return (try choice.transport(), survey.hosts)
    }
}

/// Choosing and setting up the media once the TCP mesh is up and every rank's host is known.
struct MediaChoice {
    let tcp: TCPTransport
    let jobID: UInt64
    let settings: BootstrapSettings
    let survey: HostSurvey
    let deadline: Deadline
    var rank: Int { tcp.rank }
    var worldSize: Int { tcp.worldSize }
    var logger: Logger { settings.logger }

    func allGather(_ bytes: [UInt8]) throws(TransportError) -> [[UInt8]] {
        try SetUpRecords.allGather(bytes, over: tcp, tag: settings.setUpTag, deadline: deadline)
    }

    /// What the settings ask for, where every rank can have it; the TCP mesh is closed once
    /// another medium carries every pair.
    func transport() throws(BootstrapError) -> any Transport {
        switch settings.transport {
        case .tcp:
            return tcp
        case .verbs:
            guard let verbs = try verbs("COLLECTIVES_TRANSPORT=verbs") else { return tcp }
            tcp.close()
            return verbs
        case .auto, .shm:
            break
        }
        let elsewhere = survey.ranksElsewhere
        guard elsewhere.isEmpty else {
            if settings.transport == .shm {
                throw BootstrapError(.configuration, rank: rank,
                                     reason: "COLLECTIVES_TRANSPORT=shm, but ranks \(elsewhere) are on another host (or in another container)")
            }
            return try spanningHosts("ranks span several hosts")
        }
        return try sharedMemoryForAll()
    }

    /// Every rank on this host: shared memory, else (unless it was asked for) TCP.
    func sharedMemoryForAll() throws(BootstrapError) -> any Transport {
        do {
            let shared = try SharedMemoryTransport.establish(
                rank: rank, worldSize: worldSize, jobID: jobID, options: settings.sharedMemory,
                waitPolicy: tcp.waitPolicy, allGather: allGather, logger: logger)
            tcp.close()
            logger.debug("rank \(rank): all \(worldSize) ranks on this host: shared memory, rings of \(settings.sharedMemory.ringBytes) bytes")
            return shared
        } catch {
            if settings.transport == .shm { throw BootstrapError(error) }
            if rank == 0 { logger.notice("shared memory unavailable (\(error)); using TCP") }
            return tcp
        }
    }

    /// Verbs (or, where not every rank can use them, TCP) across hosts with shared memory
    /// inside each; the TCP mesh is closed when verbs carry the data.
    func spanningHosts(_ context: String) throws(BootstrapError) -> any Transport {
        guard let verbs = try verbs(context) else { return try routed(over: tcp) }
        do {
            let transport = try routed(over: verbs)
            tcp.close()
            return transport
        } catch {
            verbs.close()
            throw error
        }
    }

    /// RDMA verbs where every rank has an active device and every rank's set-up succeeded;
    /// else nil, on every rank alike (rank 0 logs why, once). The TCP mesh stays open.
    func verbs(_ context: String) throws(BootstrapError) -> RDMATransport? {
        let device = settings.verbsDevice
        let availability = device.probe()
        // Every rank must agree before any creates queue pairs.
        let usable: [[UInt8]]
        do { usable = try allGather([availability.usable ? 1 : 0]) } catch { throw BootstrapError(error) }
        guard usable.allSatisfy({ $0 == [1] }), let index = availability.device else {
            let missing = usable.indices.filter { usable[$0] != [1] }
            if rank == 0 {
                logger.notice("\(context): \(availability.usable ? "ranks \(missing) have no usable RDMA device" : availability.reason); using TCP")
            }
            return nil
        }
        // Outcome: 1 made, 0 failed here (and why), 2 stopped because another rank failed.
        var outcome: [UInt8] = [1]
        var made: RDMATransport?
        do {
            made = try RDMATransport.establish(rank: rank, worldSize: worldSize, device: index, on: device, allGather: allGather)
        } catch {
            outcome = [error.operation == RDMATransport.agreementOperation ? 2 : 0] + Array("\(error)".utf8.prefix(400))
        }
        // And agree again: a rank whose set-up failed takes every rank back to TCP.
        let outcomes: [[UInt8]]
        do { outcomes = try allGather(outcome) } catch {
            made?.close()
            throw BootstrapError(error)
        }
        let failed = outcomes.indices.filter { outcomes[$0].first == 0 }
        guard outcomes.allSatisfy({ $0 == [1] }), let transport = made else {
            made?.close()
            if rank == 0 {
                let first = failed.first.map { ": \(String(decoding: outcomes[$0].dropFirst(), as: UTF8.self))" } ?? ""
                logger.notice("\(context): RDMA set-up failed on ranks \(failed)\(first); every rank uses TCP")
            }
            return nil
        }
        transport.waitPolicy = tcp.waitPolicy
        logger.debug("rank \(rank): RDMA verbs on device \(index)")
        return transport
    }

    /// Ranks on several hosts: shared memory among the ranks of each host that has several,
    /// `remote` (TCP or verbs) across hosts (``RoutedTransport``). A host whose ranks cannot
    /// set up shared memory uses `remote` inside too; every rank learns the outcome of every
    /// host before data moves. Shared memory is set up over the TCP mesh.
    func routed(over remote: any HostSpanning) throws(BootstrapError) -> any Transport {
        let across = remote is TCPTransport ? "TCP" : "RDMA verbs"
        let hosts = survey.hosts
        let members = survey.ranksOnThisHost
        guard survey.hostCount < worldSize else { return remote }
        var shared: SharedMemoryTransport?
        var problem: String?
        if members.count > 1, let view = TransportSubset(base: tcp, members: members) {
            do {
                shared = try SharedMemoryTransport.establish(
                    rank: view.rank, worldSize: members.count, jobID: jobID, group: UInt64(hosts[rank]) + 1,
                    options: settings.sharedMemory, waitPolicy: tcp.waitPolicy,
                    allGather: { (bytes) throws(TransportError) in
                        try SetUpRecords.allGather(bytes, over: view, tag: settings.setUpTag, deadline: deadline)
                    }, logger: logger)
            } catch {
                if error.kind == .timedOut || error.kind == .peerGone { throw BootstrapError(error) }
                problem = "\(error)"
            }
        }
        let outcomes: [[UInt8]]
        do { outcomes = try allGather(problem.map { [0] + Array($0.utf8.prefix(300)) } ?? [1]) } catch {
            shared?.close()
            throw BootstrapError(error)
        }
        if rank == 0, let failed = outcomes.firstIndex(where: { $0.first == 0 }) {
            let failedHosts = Set(outcomes.indices.filter { outcomes[$0].first == 0 }.map { hosts[$0] }).sorted()
            logger.notice("shared memory unavailable on hosts \(failedHosts) (rank \(failed): \(String(decoding: outcomes[failed].dropFirst(), as: UTF8.self))); their ranks use \(across) with each other")
        }
        guard let shared else {
            logger.debug("rank \(rank): \(across) with every peer (ranks on \(survey.hostCount) hosts)")
            return remote
        }
        let others = survey.ranksElsewhere
        logger.debug("rank \(rank): shared memory with ranks \(members.filter { $0 != rank }) on this host, \(across) with ranks \(others) on \(survey.hostCount - 1) other hosts")
        return RoutedTransport(remote: remote, sharedMemory: shared, localMembers: members)
    }
}
