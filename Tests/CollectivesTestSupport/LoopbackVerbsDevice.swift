import CollectivesSystem
import CollectivesTransport

/// A verbs device whose queue pairs connect threads of this process, behind the whole of
/// ``VerbsDevice``: what `RDMATransport.establish` and the transport factory call on hardware
/// (endpoints, registrations, connecting by queue-pair number, writes with immediates, receives,
/// completions) runs here, so a test can set up verbs through the same code a job does.
///
/// It checks what a device would refuse: a write must lie inside a registration of the writer
/// (local key) and of the peer (remote key), and must go through a connected queue pair. A write
/// copies at once, completes on the writer's side, and with its immediate completes one of the
/// peer's posted receives (or the next one posted, as RNR retry would). Not a substitute for
/// hardware: there is no RDMA device where these tests run.
package final class LoopbackVerbsDevice: VerbsDevice, @unchecked Sendable {
    private struct Endpoint {
        var peer: UInt32?
        var completions: [VerbsCompletion] = []
        var postedReceives: [UInt64] = []
        var backlog: [UInt32] = []
    }

    private struct Region {
        var endpoint: UInt32
        var start: UInt
        var bytes: Int

        func contains(_ address: UInt, _ length: Int) -> Bool {
            address >= start && length >= 0 && address - start + UInt(length) <= UInt(bytes)
        }
    }

    private let lock = ConditionLock()
    private var endpoints: [UInt32: Endpoint] = [:]
    private var regions: [UInt32: Region] = [:]
    private var nextNumber: UInt32 = 1

    package init() {}

    /// Endpoints and registrations not yet destroyed (zero once every transport closed).
    package var liveObjects: Int { lock.withLock { endpoints.count + regions.count } }

    private func handle(_ number: UInt32) -> VerbsHandle { VerbsHandle(UnsafeMutableRawPointer(bitPattern: UInt(number) * 64)!) }
    private func number(_ handle: VerbsHandle) -> UInt32 { UInt32(UInt(bitPattern: handle.raw) / 64) }

    package func probe() -> RDMAAvailability { RDMAAvailability(usable: true, reason: "a loopback stand-in", device: 0) }

    package func port(device: Int, port: Int) -> Result<VerbsPort, VerbsFailure> {
        .success(VerbsPort(isActive: true, mtu: 5, lid: 1, isEthernet: false, gid: [UInt8](repeating: 0, count: 16)))
    }

    package func createEndpoint(device: Int, port: Int, depth: Int) throws(VerbsFailure) -> VerbsHandle {
        lock.withLock {
            let made = nextNumber
            nextNumber += 1
            endpoints[made] = Endpoint()
            return handle(made)
        }
    }

    package func queuePairNumber(_ endpoint: VerbsHandle) -> UInt32 { number(endpoint) }

    package func connect(_ endpoint: VerbsHandle, to remote: VerbsEndpointInfo, localSequence: UInt32) throws(VerbsFailure) {
        let done: Bool = lock.withLock {
            guard endpoints[number(endpoint)] != nil, endpoints[remote.queuePair] != nil else { return false }
            endpoints[number(endpoint)]?.peer = remote.queuePair
            return true
        }
        guard done else { throw VerbsFailure("connect: no queue pair \(remote.queuePair)") }
    }

    package func register(_ endpoint: VerbsHandle, address: UnsafeMutableRawPointer, bytes: Int) throws(VerbsFailure)
        -> (region: VerbsHandle, localKey: UInt32, remoteKey: UInt32) {
        lock.withLock {
            let key = nextNumber
            nextNumber += 1
            regions[key] = Region(endpoint: number(endpoint), start: UInt(bitPattern: address), bytes: bytes)
            return (handle(key), key, key)
        }
    }

    package func deregister(_ region: VerbsHandle) { lock.withLock { _ = regions.removeValue(forKey: number(region)) } }

    package func destroyQueuePair(_ endpoint: VerbsHandle) { lock.withLock { endpoints[number(endpoint)]?.peer = nil } }

    package func destroyEndpoint(_ endpoint: VerbsHandle) { lock.withLock { _ = endpoints.removeValue(forKey: number(endpoint)) } }

    package func postWrite(_ endpoint: VerbsHandle, workRequest: UInt64, local: UnsafeRawPointer, length: Int, localKey: UInt32,
                          remote: UInt64, remoteKey: UInt32, immediate: UInt32) throws(VerbsFailure) {
        let problem: String? = lock.withLock {
            let me = number(endpoint)
            guard let peer = endpoints[me]?.peer, endpoints[peer] != nil else { return "queue pair \(me) is not connected" }
            if length > 0 {
                guard let source = regions[localKey], source.endpoint == me, source.contains(UInt(bitPattern: local), length) else {
                    return "local buffer outside registration \(localKey)"
                }
                guard let target = regions[remoteKey], target.endpoint == peer, target.contains(UInt(remote), length),
                      let destination = UnsafeMutableRawPointer(bitPattern: UInt(remote)) else {
                    return "remote range \(remote)+\(length) outside registration \(remoteKey) of queue pair \(peer)"
                }
                destination.copyMemory(from: local, byteCount: length)
            }
            endpoints[me]?.completions.append(VerbsCompletion(workRequest: workRequest, immediate: 0, isReceive: false, succeeded: true))
            deliver(immediate, to: peer)
            return nil
        }
        if let problem { throw VerbsFailure(problem) }
    }

    /// With the lock held.
    private func deliver(_ immediate: UInt32, to receiver: UInt32) {
        guard var endpoint = endpoints[receiver] else { return }
        if endpoint.postedReceives.isEmpty {
            endpoint.backlog.append(immediate)
        } else {
            let request = endpoint.postedReceives.removeFirst()
            endpoint.completions.append(VerbsCompletion(workRequest: request, immediate: immediate, isReceive: true, succeeded: true))
        }
        endpoints[receiver] = endpoint
    }

    package func postReceive(_ endpoint: VerbsHandle, workRequest: UInt64) throws(VerbsFailure) {
        lock.withLock {
            let me = number(endpoint)
            endpoints[me]?.postedReceives.append(workRequest)
            if let waiting = endpoints[me]?.backlog.first {
                endpoints[me]?.backlog.removeFirst()
                deliver(waiting, to: me)
            }
        }
    }

    package func poll(_ endpoint: VerbsHandle, max: Int) -> [VerbsCompletion] {
        lock.withLock {
            let me = number(endpoint)
            guard let queued = endpoints[me]?.completions, !queued.isEmpty else { return [] }
            // A copy of its own: the caller reads it without the lock.
            var taken: [VerbsCompletion] = []
            taken.reserveCapacity(Swift.min(max, queued.count))
            taken.append(contentsOf: queued.prefix(max))
            endpoints[me]?.completions.removeFirst(taken.count)
            return taken
        }
    }
}
