import CollectivesSystem
import Logging

extension RDMATransport {
    /// Connects every pair of ranks with a reliable-connected queue pair on `device`, port 1:
    /// each rank makes a queue pair, an inbound ring and a staging ring per peer, registers both
    /// rings, and sends each peer (through `allGather`, one round per peer) its queue pair, LID,
    /// GID, PSN and the inbound ring's address and key (``VerbsEndpointInfo``); then every queue
    /// pair moves to RTS.
    ///
    /// Not run on hardware: no RDMA device exists where this was written (see docs/transports.md).
    public static func establish(
        rank: Int, worldSize n: Int, device: Int, ringBytes: Int = 4 << 20, depth: Int = 64,
        allGather: ([UInt8]) throws(TransportError) -> [[UInt8]]
    ) throws(TransportError) -> RDMATransport {
        func failure(_ why: String, peer: Int? = nil) -> TransportError {
            TransportError(.protocolViolation(why), rank: rank, peer: peer, operation: "RDMA set-up")
        }
        let port: VerbsPort
        switch VerbsLibrary.port(device: device, port: 1) {
        case .success(let value): port = value
        case .failure(let error): throw failure("\(error)")
        }
        let resources = RDMAResources(worldSize: n, ringBytes: ringBytes)
        var channels: [VerbsChannel?] = Array(repeating: nil, count: n)
        var pairs: [VerbsQueuePair?] = Array(repeating: nil, count: n)
        var mine: [[UInt8]] = Array(repeating: [], count: n)
        for peer in 0..<n where peer != rank {
            do {
                let pair = try VerbsQueuePair(device: device, depth: depth * 2)
                let inbound = try pair.register(resources.inbound[peer], bytes: ringBytes)
                let staging = try pair.register(resources.staging[peer], bytes: ringBytes)
                resources.regions += [inbound, staging]
                resources.stagingKeys[peer] = staging.localKey
                pairs[peer] = pair
                mine[peer] = VerbsEndpointInfo(queuePair: pair.number, packetSequence: pair.localSequence, lid: port.lid,
                                               mtu: UInt8(Swift.max(1, Swift.min(port.mtu, 5))), usesGID: port.isEthernet, gid: port.gid,
                                               ringAddress: UInt64(UInt(bitPattern: resources.inbound[peer])), ringKey: inbound.remoteKey,
                                               ringBytes: UInt64(ringBytes)).encoded()
            } catch {
                throw failure("\(error)", peer: peer)
            }
        }
        // Round j: everyone sends what it has for rank j; rank j keeps it.
        var theirs: [VerbsEndpointInfo?] = Array(repeating: nil, count: n)
        for target in 0..<n {
            let round = try allGather(target == rank ? [] : mine[target])
            if target == rank {
                for peer in 0..<n where peer != rank {
                    guard let info = VerbsEndpointInfo.decode(round[peer]) else { throw failure("malformed endpoint from rank \(peer)", peer: peer) }
                    theirs[peer] = info
                }
            }
        }
        for peer in 0..<n where peer != rank {
            guard let pair = pairs[peer], let remote = theirs[peer] else { continue }
            do { try pair.connect(to: remote) } catch { throw failure("\(error)", peer: peer) }
            channels[peer] = HardwareVerbsChannel(pair: pair, remote: remote, stagingKey: resources.stagingKeys[peer], resources: resources)
        }
        return try RDMATransport(rank: rank, channels: channels, inbound: resources.inbound.map { Optional($0) },
                                 staging: resources.staging.map { Optional($0) }, ringBytes: ringBytes, depth: depth)
    }
}

/// The rings and registrations of one RDMA transport, kept alive by its channels.
final class RDMAResources: @unchecked Sendable {
    let inbound: [UnsafeMutableRawPointer]
    let staging: [UnsafeMutableRawPointer]
    var regions: [VerbsRegion] = []
    var stagingKeys: [UInt32]

    init(worldSize: Int, ringBytes: Int) {
        inbound = (0..<worldSize).map { _ in .allocate(byteCount: ringBytes, alignment: 4096) }
        staging = (0..<worldSize).map { _ in .allocate(byteCount: ringBytes, alignment: 4096) }
        stagingKeys = Array(repeating: 0, count: worldSize)
    }

    deinit {
        regions.removeAll()
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
        try pair.postWrite(workRequest, local: local, length: length, localKey: stagingKey, remote: remote.ringAddress + UInt64(remoteOffset),
                           remoteKey: remote.ringKey, immediate: immediate)
    }

    func postReceive(_ workRequest: UInt64) throws(VerbsFailure) { try pair.postReceive(workRequest) }

    func poll(max: Int) -> [VerbsCompletion] { pair.poll(max: max) }
}
