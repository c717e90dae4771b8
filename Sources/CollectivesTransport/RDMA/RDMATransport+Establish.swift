import CollectivesSystem
import Logging

extension RDMATransport {
    /// The operation of the error a rank throws when set-up failed on another rank, not on it.
    package static let agreementOperation = TransportOperation.rdmaSetUpElsewhere

    /// Connects every pair of ranks with a reliable-connected queue pair on `device`, port 1:
    /// each rank makes a queue pair, an inbound ring and a staging ring per peer, registers both
    /// rings, says (through `allGather`) whether that worked, and, if it did everywhere, sends each peer (through `allGather`, one round per peer) its queue pair, LID,
    /// GID, PSN and the inbound ring's address and key (``VerbsEndpointInfo``); then every queue
    /// pair moves to RTS.
    ///
    /// Not run on hardware: no RDMA device exists where this was written (see docs/transports.md).
    ///
    /// Whatever fails, what was made is torn down in order before the error is thrown
    /// (``RDMAResources/tearDown()``), and so is everything when the transport closes.
    package static func establish(
        rank: Int, worldSize n: Int, device: Int, ringBytes: Int = 4 << 20, depth: Int = 64,
        on verbs: any VerbsDevice = HardwareVerbsDevice.shared,
        allGather: ([UInt8]) throws(TransportError) -> [[UInt8]]
    ) throws(TransportError) -> RDMATransport {
        func failure(_ why: String, peer: Int? = nil) -> TransportError {
            TransportError(.protocolViolation(why), rank: rank, peer: peer, operation: "RDMA set-up")
        }
        // Every rank takes part in every exchange below whatever fails locally, so that a
        // failure on one rank is an error on all of them at the same step, never a rank left
        // waiting for a round its peer skipped.
        let resources = RDMAResources(worldSize: n, ringBytes: ringBytes)
        var made = LocalEndpoints(worldSize: n)
        switch verbs.port(device: device, port: 1) {
        case .failure(let error):
            made.failure = failure("\(error)")
        case .success(let port):
            made.makePairs(rank: rank, device: device, depth: depth, ringBytes: ringBytes, port: port, on: verbs, resources: resources,
                           failure: failure)
        }
        var localFailure = made.failure
        // Did every rank make its queue pairs and rings? If not, none goes on.
        let notReady: Int?
        do { notReady = try firstRankNotReady(localFailure == nil, allGather: allGather) } catch {
            resources.tearDown()
            throw error
        }
        if let notReady {
            resources.tearDown()
            throw localFailure ?? TransportError(.protocolViolation("rank \(notReady) could not set up RDMA"), rank: rank, peer: notReady,
                                                 operation: RDMATransport.agreementOperation)
        }
        let theirs: [VerbsEndpointInfo?]
        do { theirs = try swapEndpoints(made.encoded, rank: rank, allGather: allGather) } catch {
            resources.tearDown()
            throw error
        }
        for peer in 0..<n where peer != rank && theirs[peer] == nil && localFailure == nil {
            localFailure = failure("malformed endpoint from rank \(peer)", peer: peer)
        }
        if let localFailure {
            resources.tearDown()
            throw localFailure
        }
        // Connecting is local; a failure here is agreed on by the caller (every rank returns or
        // throws at this same step).
        var channels: [VerbsChannel?] = Array(repeating: nil, count: n)
        for peer in 0..<n where peer != rank {
            guard let pair = made.pairs[peer], let remote = theirs[peer] else { continue }
            do { try pair.connect(to: remote) } catch {
                resources.tearDown()
                throw failure("\(error)", peer: peer)
            }
            channels[peer] = HardwareVerbsChannel(pair: pair, remote: remote, stagingKey: resources.stagingKeys[peer], resources: resources)
        }
        do {
            return try RDMATransport(rank: rank, channels: channels, inbound: resources.inbound.map { Optional($0) },
                                     staging: resources.staging.map { Optional($0) }, ringBytes: ringBytes, depth: depth)
        } catch {
            resources.tearDown()
            throw error
        }
    }

    /// Says whether this rank made its queue pairs and rings; returns the first rank that did
    /// not, if one did not.
    private static func firstRankNotReady(_ ready: Bool, allGather: ([UInt8]) throws(TransportError) -> [[UInt8]]) throws(TransportError) -> Int? {
        let made = try allGather(ready ? [1] : [0])
        return made.indices.first { made[$0] != [1] }
    }

    /// Round j: everyone sends what it has for rank j (`mine[j]`); rank j keeps it. Returns
    /// each peer's endpoint, `nil` where it was malformed.
    private static func swapEndpoints(_ mine: [[UInt8]], rank: Int,
                                      allGather: ([UInt8]) throws(TransportError) -> [[UInt8]]) throws(TransportError) -> [VerbsEndpointInfo?] {
        let n = mine.count
        var theirs: [VerbsEndpointInfo?] = Array(repeating: nil, count: n)
        for target in 0..<n {
            let round = try allGather(target == rank ? [] : mine[target])
            guard target == rank else { continue }
            for peer in 0..<n where peer != rank { theirs[peer] = VerbsEndpointInfo.decode(round[peer]) }
        }
        return theirs
    }
}

/// What this rank made for each peer: a queue pair with its rings registered, and the endpoint
/// (``VerbsEndpointInfo``) that tells the peer how to reach them; or why it could not.
private struct LocalEndpoints {
    var pairs: [VerbsQueuePair?]
    var encoded: [[UInt8]]
    var failure: TransportError?

    init(worldSize n: Int) {
        pairs = Array(repeating: nil, count: n)
        encoded = Array(repeating: [], count: n)
    }

    /// Makes a queue pair per peer and registers its inbound and staging rings (each kept by
    /// `resources` for tear-down), stopping at the first failure.
    mutating func makePairs(rank: Int, device: Int, depth: Int, ringBytes: Int, port: VerbsPort, on verbs: any VerbsDevice,
                            resources: RDMAResources, failure: (String, Int?) -> TransportError) {
        for peer in 0..<pairs.count where peer != rank {
            do {
                let pair = try VerbsQueuePair(device: device, depth: depth * 2, on: verbs)
                resources.add(pair)
                let inbound = try pair.register(resources.inbound[peer], bytes: ringBytes)
                resources.add(inbound.region, of: pair)
                let staging = try pair.register(resources.staging[peer], bytes: ringBytes)
                resources.add(staging.region, of: pair)
                resources.stagingKeys[peer] = staging.localKey
                pairs[peer] = pair
                encoded[peer] = VerbsEndpointInfo(queuePair: pair.number, packetSequence: pair.localSequence, lid: port.lid,
                                                  mtu: UInt8(Swift.max(1, Swift.min(port.mtu, 5))), usesGID: port.isEthernet, gid: port.gid,
                                                  ringAddress: UInt64(UInt(bitPattern: resources.inbound[peer])), ringKey: inbound.remoteKey,
                                                  ringBytes: UInt64(ringBytes)).encoded()
            } catch {
                self.failure = failure("\(error)", peer)
                return
            }
        }
    }
}

/// What one RDMA transport made on the device, and its rings: torn down once, in order, by
/// ``tearDown()`` (when the transport closes, or when the last channel lets go of it).
final class RDMAResources: @unchecked Sendable {
    let inbound: [UnsafeMutableRawPointer]
    let staging: [UnsafeMutableRawPointer]
    var stagingKeys: [UInt32]
    private let lock = ConditionLock()
    private var pairs: [VerbsQueuePair] = []
    private var regions: [(region: VerbsHandle, pair: VerbsQueuePair)] = []
    private var tornDown = false

    init(worldSize: Int, ringBytes: Int) {
        inbound = (0..<worldSize).map { _ in .allocate(byteCount: ringBytes, alignment: 4096) }
        staging = (0..<worldSize).map { _ in .allocate(byteCount: ringBytes, alignment: 4096) }
        stagingKeys = Array(repeating: 0, count: worldSize)
    }

    deinit { tearDown() }

    func add(_ pair: VerbsQueuePair) { lock.withLock { pairs.append(pair) } }
    func add(_ region: VerbsHandle, of pair: VerbsQueuePair) { lock.withLock { regions.append((region, pair)) } }

    var isTornDown: Bool { lock.withLock { tornDown } }

    /// Destroys every queue pair (no transfer can touch the rings after this), removes every
    /// registration, destroys each endpoint's completion queue, protection domain and context,
    /// and frees the rings. Later calls do nothing.
    func tearDown() {
        let taken: ([VerbsQueuePair], [(region: VerbsHandle, pair: VerbsQueuePair)])? = lock.withLock {
            if tornDown { return nil }
            tornDown = true
            defer { self.pairs = []; self.regions = [] }
            return (self.pairs, self.regions)
        }
        guard let (pairs, regions) = taken else { return }
        for pair in pairs { pair.destroyQueuePair() }
        for entry in regions { entry.pair.device.deregister(entry.region) }
        for pair in pairs { pair.device.destroyEndpoint(pair.endpoint) }
        inbound.forEach { $0.deallocate() }
        staging.forEach { $0.deallocate() }
    }
}

/// A ``VerbsChannel`` over a real queue pair.
final class HardwareVerbsChannel: VerbsChannel {
    let pair: VerbsQueuePair
    let remote: VerbsEndpointInfo
    let stagingKey: UInt32
    let resources: RDMAResources

    init(pair: VerbsQueuePair, remote: VerbsEndpointInfo, stagingKey: UInt32, resources: RDMAResources) {
        self.pair = pair
        self.remote = remote
        self.stagingKey = stagingKey
        self.resources = resources
    }

    func postWrite(_ workRequest: UInt64, local: UnsafeRawPointer, length: Int, remoteOffset: Int, immediate: UInt32) throws(VerbsFailure) {
        guard !resources.isTornDown else { throw VerbsFailure("the RDMA transport was closed") }
        try pair.postWrite(workRequest, local: local, length: length, localKey: stagingKey, remote: remote.ringAddress + UInt64(remoteOffset),
                           remoteKey: remote.ringKey, immediate: immediate)
    }

    func postReceive(_ workRequest: UInt64) throws(VerbsFailure) {
        guard !resources.isTornDown else { throw VerbsFailure("the RDMA transport was closed") }
        try pair.postReceive(workRequest)
    }

    func poll(max: Int) -> [VerbsCompletion] { resources.isTornDown ? [] : pair.poll(max: max) }

    func close() { resources.tearDown() }
}
