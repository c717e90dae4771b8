import CollectivesSystem
import CollectivesTransport
import Logging

extension Communicator {
    /// Chooses the data transport once the TCP mesh is up (``TransportChoice``): shared memory
    /// when every rank is on this host (set up over the TCP connections, which are then closed),
    /// otherwise TCP. The choice is logged at debug level; a fallback that the configuration did
    /// not ask for is logged once, on rank 0, at notice level.
    static func chooseTransport(tcp: TCPTransport, jobID: UInt64, options: CommunicatorOptions, deadline: Deadline,
                                logger: Logger) throws(CollectivesError) -> any Transport {
        let rank = tcp.rank, n = tcp.worldSize
        let operation = "bootstrap"
        let workspace = Workspace(scratchBytes: 0)
        let tag = CallDescriptor(.setUp, sequence: 0).tag
        func allGather(_ bytes: [UInt8]) throws(TransportError) -> [[UInt8]] {
            try RecordExchange.allGather(bytes, transport: tcp, tag: tag, deadline: deadline, workspace: workspace)
        }
        /// RDMA verbs where every rank has an active device; else nil (rank 0 logs why, once).
        func verbs(_ context: String) throws(CollectivesError) -> (any Transport)? {
            let availability = RDMAAvailability.probe()
            // Every rank must agree before any creates queue pairs.
            let usable: [[UInt8]]
            do { usable = try allGather([availability.usable ? 1 : 0]) } catch { throw CollectivesError(error, operation: operation) }
            guard usable.allSatisfy({ $0 == [1] }), let device = availability.device else {
                let missing = usable.indices.filter { usable[$0] != [1] }
                if rank == 0 {
                    logger.notice("\(context): \(availability.usable ? "ranks \(missing) have no usable RDMA device" : availability.reason); using TCP")
                }
                return nil
            }
            do {
                let transport = try RDMATransport.establish(rank: rank, worldSize: n, device: device, allGather: allGather)
                transport.waitPolicy = tcp.waitPolicy
                tcp.close()
                logger.debug("rank \(rank): RDMA verbs on device \(device)")
                return transport
            } catch {
                if rank == 0 { logger.notice("\(context): RDMA set-up failed (\(error)); using TCP") }
                return nil
            }
        }
        // Which ranks share this host: for shared memory, and for how waits use the cores.
        let keys: [[UInt8]]
        do { keys = try allGather(Array(SharedMemoryTransport.localityKey().utf8)) } catch {
            throw CollectivesError(error, operation: operation)
        }
        let elsewhere = keys.indices.filter { keys[$0] != keys[rank] }
        let policy = options.waitPolicy(localRanks: n - elsewhere.count)
        tcp.waitPolicy = policy
        logger.debug("rank \(rank): \(n - elsewhere.count) ranks on this host, \(WaitPolicy.availableCores) cores: waits \(policy)")
        switch options.transport {
        case .tcp:
            return tcp
        case .verbs:
            return try verbs("COLLECTIVES_TRANSPORT=verbs") ?? tcp
        case .auto, .shm:
            break
        }
        guard elsewhere.isEmpty else {
            if options.transport == .shm {
                throw CollectivesError(.configuration, rank: rank, operation: operation,
                                       reason: "COLLECTIVES_TRANSPORT=shm, but ranks \(elsewhere) are on another host (or in another container)")
            }
            return try verbs("ranks span several hosts") ?? tcp
        }
        do {
            let shared = try SharedMemoryTransport.establish(
                rank: rank, worldSize: n, jobID: jobID, options: options.sharedMemory,
                waitPolicy: policy, allGather: allGather, logger: logger)
            tcp.close()
            logger.debug("rank \(rank): all \(n) ranks on this host: shared memory, rings of \(options.sharedMemory.ringBytes) bytes")
            return shared
        } catch {
            if options.transport == .shm { throw CollectivesError(error, operation: operation) }
            if rank == 0 { logger.notice("shared memory unavailable (\(error)); using TCP") }
            return tcp
        }
    }
}
