import CollectivesSystem
import Logging

/// Settings of the shared-memory transport.
public struct SharedMemoryOptions: Sendable, Hashable {
    /// Bytes of each ring (one per sender in every rank's segment). Default 4 MiB; the memory is
    /// only touched as far as messages reach.
    public var ringBytes = 4 << 20
    /// Messages of at least this many bytes go by single copy: the receiver reads them straight
    /// from the sender's buffer with `process_vm_readv` (cross-memory attach), so each byte is
    /// copied once instead of into and out of a ring. Default 0 (off), as measured
    /// (docs/benchmarks.md): with a core per rank the ring was as fast or faster up to 4 MiB (its
    /// copies stay in cache); with 4 ranks on 2 cores single copy won the all-reduce benchmark at
    /// 1 – 64 MiB but slowed the demo's training by about a sixth. `COLLECTIVES_SHM_SINGLE_COPY_BYTES`
    /// turns it on. Where the kernel does not allow one rank to read another's memory (Yama
    /// `ptrace_scope` 2 or 3, seccomp, another user), every rank finds out at set-up and all use
    /// the ring, logged at debug level.
    ///
    /// To allow it under `ptrace_scope` 1, each rank declares, as OpenMPI does, that processes of
    /// the same user may read its memory (`prctl(PR_SET_PTRACER, PR_SET_PTRACER_ANY)`).
    public var singleCopyBytes = 0
    public init() {}
}

extension SharedMemoryTransport {
    /// What identifies "the same host" for shared memory: the kernel's boot id and this
    /// process's PID, mount and IPC namespaces (ranks in different containers on one machine
    /// cannot share `/dev/shm` or see each other's processes). `COLLECTIVES_HOST_ID`, where set,
    /// replaces the boot id and the mount and IPC namespaces, but not the PID namespace: shared
    /// memory names its ranks by pid (liveness through pidfds, single copy, stale segments), so
    /// ranks in separate PID namespaces never share it, whatever they share of `/dev/shm`; they
    /// count as separate hosts and talk over TCP.
    package static func localityKey() -> String { localityKey(hostID: EnvironmentVariable.hostID.value) }

    /// The same, with `hostID` (an operator's word for which host this is: containers that
    /// share memory, tests that emulate hosts) in place of `COLLECTIVES_HOST_ID`.
    package static func localityKey(hostID: String?) -> String {
        // The operator's word wins over what the kernel says, except for the PID namespace.
        if let hostID, !hostID.isEmpty {
            return "host-id/" + hostID + "/" + namespaceIdentity("pid")
        }
        var parts: [String] = []
        if let bootID = FileSystem.text(of: "/proc/sys/kernel/random/boot_id")?.split(separator: "\n").first {
            parts.append(String(bootID))
        }
        for namespace in ["pid", "mnt", "ipc"] { parts.append(namespaceIdentity(namespace)) }
        return parts.joined(separator: "/")
    }

    /// This process's namespace of kind `namespace` (`pid:[4026531836]`), or `?`.
    static func namespaceIdentity(_ namespace: String) -> String {
        FileSystem.linkTarget(of: "/proc/self/ns/\(namespace)") ?? "?"
    }

    /// Sets up shared memory among the ranks of a group that are all on this host.
    ///
    /// Each rank creates its segment, the names are exchanged with `allGather` (which must give
    /// every rank's bytes, by rank), each rank maps everyone's, the outcome is exchanged again,
    /// and each rank unlinks its own name once everyone holds a mapping. If any rank failed,
    /// every rank throws (and the caller can fall back to another transport).
    ///
    /// - Parameter group: distinguishes the segments of sub-communicators of one job.
    /// - Parameter waitPolicy: how waits spin, yield and sleep; `nil` chooses from the number of
    ///   ranks (all on this host) and the cores available.
    package static func establish(
        rank: Int, worldSize: Int, jobID: UInt64, group: UInt64 = 0,
        options: SharedMemoryOptions = SharedMemoryOptions(), waitPolicy: WaitPolicy? = nil,
        allGather: ([UInt8]) throws(TransportError) -> [[UInt8]],
        logger: Logger = Logger(label: "collectives.shm")
    ) throws(TransportError) -> SharedMemoryTransport {
        let operation = TransportOperation.sharedMemorySetUp
        var own: SharedMemorySegment?
        var problem: String?
        // Before anyone can try to read this process (they do so after the first exchange). It
        // fails where the kernel has no Yama module, which needs none: the reads themselves tell.
        let threshold = options.singleCopyBytes
        let singleCopyAllowed = threshold > 0
        if singleCopyAllowed { Scheduler.allowPeersToReadMemory() }
        do {
            own = try SharedMemorySegment.create(jobID: jobID, group: group, rank: rank, slots: worldSize, capacity: options.ringBytes)
        } catch {
            problem = "\(error)"
        }
        defer { own?.unlink() }
        let names = try allGather(Array((own?.name ?? "").utf8))

        var segments: [SharedMemorySegment] = []
        if let own, problem == nil {
            for (peer, bytes) in names.enumerated() {
                if peer == rank { segments.append(own); continue }
                do {
                    let segment = try SharedMemorySegment.open(name: String(decoding: bytes, as: UTF8.self), expectedRank: peer)
                    guard segment.slots >= worldSize else { throw TransportError(.protocolViolation("too few rings"), rank: rank, peer: peer, operation: operation) }
                    segments.append(segment)
                } catch {
                    problem = "rank \(peer)'s segment: \(error)"
                    break
                }
            }
        }
        // Single copy only if every rank can read every other rank: each says whether it can.
        let readable = singleCopyAllowed && problem == nil
            && segments.indices.allSatisfy { $0 == rank || segments[$0].ownerMemoryIsReadable }
        let outcomes = try allGather(Array((problem ?? (readable ? "+" : "-")).utf8))
        if let failed = outcomes.firstIndex(where: { $0 != [UInt8(ascii: "+")] && $0 != [UInt8(ascii: "-")] }) {
            let why = String(decoding: outcomes[failed], as: UTF8.self)
            throw TransportError(.protocolViolation("rank \(failed) could not set up shared memory: \(why)"), rank: rank, peer: failed, operation: operation)
        }
        let singleCopy = outcomes.allSatisfy { $0 == [UInt8(ascii: "+")] }
        if threshold > 0 {
            logger.debug("rank \(rank): shared memory: single copy from \(threshold) bytes \(singleCopy ? "on" : "off: ranks \(outcomes.indices.filter { outcomes[$0] != [UInt8(ascii: "+")] }) cannot read their peers' memory (process_vm_readv)")")
        }
        return SharedMemoryTransport(rank: rank, segments: segments, jobID: jobID,
                                     waitPolicy: waitPolicy ?? .automatic(localRanks: worldSize),
                                     singleCopyBytes: singleCopy ? threshold : 0, logger: logger)
    }
}

extension SharedMemoryTransport: SubgroupCapable {
    /// Creates this rank's segment for the subgroup now (its name is the endpoint), maps the
    /// other members' in `connect`, and unlinks it once every member has answered a one-byte
    /// hello over the new rings.
    package func prepareSubgroup() throws(TransportError) -> SubgroupPlan {
        let group = UInt64.random(in: 1...UInt64.max)
        let segment: SharedMemorySegment
        do {
            segment = try SharedMemorySegment.create(jobID: jobID, group: group, rank: rank, slots: worldSize, capacity: ringCapacity)
        } catch {
            throw TransportError(error.transportKind, rank: rank, peer: nil, operation: "subgroup set-up")
        }
        // The same processes as the parent's: single copy works there if it works here.
        let jobID = self.jobID, logger = self.logger, policy = waitPolicy, singleCopy = singleCopyBytes
        return SubgroupPlan(endpoint: Array(segment.name.utf8), connect: { _, newRank, endpoints, deadline throws(TransportError) in
            defer { segment.unlink() }
            // The segment was made with this rank's parent number; renumber it.
            segment.base.storeBytes(of: UInt32(newRank), toByteOffset: 16, as: UInt32.self)
            var segments: [SharedMemorySegment] = []
            for (member, bytes) in endpoints.enumerated() {
                if member == newRank { segments.append(segment); continue }
                // A member renumbers its own segment before mapping others': wait for it.
                var opened: SharedMemorySegment?
                while opened == nil {
                    do {
                        opened = try SharedMemorySegment.open(name: String(decoding: bytes, as: UTF8.self), expectedRank: member)
                    } catch {
                        if deadline.hasPassed { throw TransportError(.timedOut, rank: newRank, peer: member, operation: "subgroup set-up") }
                        sleepSeconds(0.001)
                    }
                }
                segments.append(opened!)
            }
            let transport = SharedMemoryTransport(rank: newRank, segments: segments, jobID: jobID, waitPolicy: policy,
                                                  singleCopyBytes: singleCopy, logger: logger)
            // Everyone has mapped everyone once each has heard from all: then names can go.
            let scratch = UnsafeMutableRawBufferPointer.allocate(byteCount: endpoints.count + 1, alignment: 8)
            defer { scratch.deallocate() }
            scratch.initializeMemory(as: UInt8.self, repeating: 1)
            var requests: [TransportRequest] = []
            for member in endpoints.indices where member != newRank {
                requests.append(try transport.postReceive(into: UnsafeMutableRawBufferPointer(rebasing: scratch[member..<(member + 1)]), from: member, tag: 0))
            }
            for member in endpoints.indices where member != newRank {
                requests.append(try transport.postSend(UnsafeRawBufferPointer(rebasing: scratch[endpoints.count..<(endpoints.count + 1)]), to: member, tag: 0))
            }
            for request in requests { try transport.wait(request, deadline: deadline) }
            return transport
        }, cancel: { segment.unlink() })
    }
}
