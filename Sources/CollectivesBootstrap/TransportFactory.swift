import CollectivesSystem
import CollectivesTransport
import Logging

/// Makes the data transport of a group whose TCP mesh is up: which transport carries each pair
/// of ranks is decided here, below the collectives, which see only `any Transport`.
public enum TransportFactory {
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
    public static func make(over tcp: TCPTransport, jobID: UInt64, settings: BootstrapSettings, localWorldSize: Int?,
                            deadline: Deadline) throws(BootstrapError) -> (transport: any Transport, hosts: [Int]) {
        let rank = tcp.rank, n = tcp.worldSize
        let logger = settings.logger
        func allGather(_ bytes: [UInt8]) throws(TransportError) -> [[UInt8]] {
            try SetUpExchange.allGather(bytes, over: tcp, deadline: deadline)
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
                made = try RDMATransport.establish(rank: rank, worldSize: n, device: index, on: device, allGather: allGather)
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
        // Which ranks share this host: for shared memory, and for how waits use the cores.
        let keys: [[UInt8]]
        do { keys = try allGather(Array(SharedMemoryTransport.localityKey(hostID: settings.hostID).utf8)) } catch {
            throw BootstrapError(error)
        }
        let elsewhere = keys.indices.filter { keys[$0] != keys[rank] }
        if !settings.tcp.secret.isSet && !elsewhere.isEmpty && rank == 0 {
            let hosts = Set(keys).count
            logger.warning("""
                WARNING: no job secret, and this job's \(n) ranks span \(hosts) hosts: any process that can reach the \
                rendezvous store or a rank's port can join this job, read its data or feed it forged data. Set \
                COLLECTIVES_JOB_SECRET to the same random value on every rank (e.g. `openssl rand -hex 32`; \
                collectives-run does it for you), or COLLECTIVES_REQUIRE_SECRET=1 to refuse to start without one.
                """)
        }
        var hostOf: [[UInt8]: Int] = [:]
        let hosts = keys.map { key in
            if let known = hostOf[key] { return known }
            hostOf[key] = hostOf.count
            return hostOf.count - 1
        }
        let localRanks = localWorldSize ?? (n - elsewhere.count)
        let policy = settings.waitPolicy(localRanks)
        tcp.waitPolicy = policy
        logger.debug("rank \(rank): \(n - elsewhere.count) ranks on this host (host \(hosts[rank]) of \(hostOf.count)), \(localRanks) counted for waits, \(WaitPolicy.availableCores) cores: waits \(policy)")
        /// Ranks on several hosts: shared memory among the ranks of each host that has several,
        /// `remote` (TCP or verbs) across hosts (``RoutedTransport``). A host whose ranks cannot
        /// set up shared memory uses `remote` inside too; every rank learns the outcome of every
        /// host before data moves. Shared memory is set up over the TCP mesh.
        func routed(over remote: any WaitMedium) throws(BootstrapError) -> any Transport {
            let across = remote is TCPTransport ? "TCP" : "RDMA verbs"
            let members = hosts.indices.filter { hosts[$0] == hosts[rank] }
            guard Set(hosts).count < n else { return remote }
            var shared: SharedMemoryTransport?
            var problem: String?
            if members.count > 1, let view = TransportSubset(base: tcp, members: members) {
                do {
                    shared = try SharedMemoryTransport.establish(
                        rank: view.rank, worldSize: members.count, jobID: jobID, group: UInt64(hosts[rank]) + 1,
                        options: settings.sharedMemory, waitPolicy: policy,
                        allGather: { (bytes) throws(TransportError) in
                            try SetUpExchange.allGather(bytes, over: view, deadline: deadline)
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
                logger.debug("rank \(rank): \(across) with every peer (ranks on \(hostOf.count) hosts)")
                return remote
            }
            let others = (0..<n).filter { hosts[$0] != hosts[rank] }
            logger.debug("rank \(rank): shared memory with ranks \(members.filter { $0 != rank }) on this host, \(across) with ranks \(others) on \(hostOf.count - 1) other hosts")
            return RoutedTransport(remote: remote, sharedMemory: shared, localMembers: members)
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
        switch settings.transport {
        case .tcp:
            return (tcp, hosts)
        case .verbs:
            guard let verbs = try verbs("COLLECTIVES_TRANSPORT=verbs") else { return (tcp, hosts) }
            tcp.close()
            return (verbs, hosts)
        case .auto, .shm:
            break
        }
        guard elsewhere.isEmpty else {
            if settings.transport == .shm {
                throw BootstrapError(.configuration, rank: rank,
                                     reason: "COLLECTIVES_TRANSPORT=shm, but ranks \(elsewhere) are on another host (or in another container)")
            }
            return (try spanningHosts("ranks span several hosts"), hosts)
        }
        do {
            let shared = try SharedMemoryTransport.establish(
                rank: rank, worldSize: n, jobID: jobID, options: settings.sharedMemory,
                waitPolicy: policy, allGather: allGather, logger: logger)
            tcp.close()
            logger.debug("rank \(rank): all \(n) ranks on this host: shared memory, rings of \(settings.sharedMemory.ringBytes) bytes")
            return (shared, hosts)
        } catch {
            if settings.transport == .shm { throw BootstrapError(error) }
            if rank == 0 { logger.notice("shared memory unavailable (\(error)); using TCP") }
            return (tcp, hosts)
        }
    }
}
