import CVerbs

/// An opaque handle a ``VerbsDevice`` gives out: an endpoint (context, protection domain,
/// completion queue and queue pair) or a memory registration.
package struct VerbsHandle: @unchecked Sendable, Hashable {
    package let raw: UnsafeMutableRawPointer
    package init(_ raw: UnsafeMutableRawPointer) { self.raw = raw }
}

/// The verbs calls the RDMA transport makes, behind a protocol so that a test can stand in for a
/// device: it can see the order of set-up and teardown, and make a step fail on one rank.
/// ``HardwareVerbsDevice`` makes them on the real library.
///
/// Teardown order (``RDMAResources/tearDown()``): every queue pair is destroyed first (no
/// transfer can touch the memory any more), then every registration is removed, then each
/// endpoint's completion queue, protection domain and device context, and last the memory.
package protocol VerbsDevice: AnyObject, Sendable {
    /// Whether verbs can carry data here, and on which device.
    func probe() -> RDMAAvailability
    /// Port `port` of device `device`.
    func port(device: Int, port: Int) -> Result<VerbsPort, VerbsFailure>
    /// Opens `device` and makes a queue pair on `port` in INIT.
    func createEndpoint(device: Int, port: Int, depth: Int) throws(VerbsFailure) -> VerbsHandle
    /// The queue pair's number.
    func queuePairNumber(_ endpoint: VerbsHandle) -> UInt32
    /// Moves the queue pair to RTR then RTS towards `remote`.
    func connect(_ endpoint: VerbsHandle, to remote: VerbsEndpointInfo, localSequence: UInt32) throws(VerbsFailure)
    /// Registers `bytes` at `address` for local and remote writes in the endpoint's protection domain.
    func register(_ endpoint: VerbsHandle, address: UnsafeMutableRawPointer, bytes: Int) throws(VerbsFailure)
        -> (region: VerbsHandle, localKey: UInt32, remoteKey: UInt32)
    /// Removes a registration.
    func deregister(_ region: VerbsHandle)
    /// Destroys the endpoint's queue pair only.
    func destroyQueuePair(_ endpoint: VerbsHandle)
    /// Destroys what is left of the endpoint: completion queue, protection domain, context.
    func destroyEndpoint(_ endpoint: VerbsHandle)
    /// Posts an RDMA write with immediate.
    func postWrite(_ endpoint: VerbsHandle, workRequest: UInt64, local: UnsafeRawPointer, length: Int, localKey: UInt32,
                   remote: UInt64, remoteKey: UInt32, immediate: UInt32) throws(VerbsFailure)
    /// Posts a zero-length receive.
    func postReceive(_ endpoint: VerbsHandle, workRequest: UInt64) throws(VerbsFailure)
    /// Up to `max` completions.
    func poll(_ endpoint: VerbsHandle, max: Int) -> [VerbsCompletion]
}

/// The verbs library itself (`libibverbs.so.1`, opened at run time).
package final class HardwareVerbsDevice: VerbsDevice {
    package static let shared = HardwareVerbsDevice()

    package init() {}

    package func probe() -> RDMAAvailability { RDMAAvailability.probe() }

    package func port(device: Int, port: Int) -> Result<VerbsPort, VerbsFailure> { VerbsLibrary.port(device: device, port: port) }

    package func createEndpoint(device: Int, port: Int, depth: Int) throws(VerbsFailure) -> VerbsHandle {
        var error = [CChar](repeating: 0, count: 512)
        guard let made = collectives_verbs_endpoint_create(Int32(device), Int32(port), Int32(depth), &error, error.count) else {
            throw VerbsFailure(VerbsLibrary.text(error))
        }
        return VerbsHandle(UnsafeMutableRawPointer(made))
    }

    private func endpoint(_ handle: VerbsHandle) -> OpaquePointer { OpaquePointer(handle.raw) }

    package func queuePairNumber(_ handle: VerbsHandle) -> UInt32 { collectives_verbs_endpoint_qpn(endpoint(handle)) }

    package func connect(_ handle: VerbsHandle, to remote: VerbsEndpointInfo, localSequence: UInt32) throws(VerbsFailure) {
        var error = [CChar](repeating: 0, count: 512)
        let rc = remote.gid.withUnsafeBufferPointer { gid in
            collectives_verbs_endpoint_connect(endpoint(handle), remote.queuePair, remote.lid, gid.baseAddress, remote.packetSequence,
                                               localSequence, Int32(remote.mtu), remote.usesGID ? 1 : 0, &error, error.count)
        }
        guard rc == 0 else { throw VerbsFailure(VerbsLibrary.text(error)) }
    }

    package func register(_ handle: VerbsHandle, address: UnsafeMutableRawPointer, bytes: Int) throws(VerbsFailure)
        -> (region: VerbsHandle, localKey: UInt32, remoteKey: UInt32) {
        var lkey: UInt32 = 0, rkey: UInt32 = 0
        guard let region = collectives_verbs_register(endpoint(handle), address, bytes, &lkey, &rkey) else {
            throw VerbsFailure("ibv_reg_mr failed for \(bytes) bytes")
        }
        return (VerbsHandle(region), lkey, rkey)
    }

    package func deregister(_ region: VerbsHandle) { collectives_verbs_deregister(region.raw) }

    package func destroyQueuePair(_ handle: VerbsHandle) { collectives_verbs_endpoint_destroy_qp(endpoint(handle)) }

    package func destroyEndpoint(_ handle: VerbsHandle) { collectives_verbs_endpoint_destroy(endpoint(handle)) }

    package func postWrite(_ handle: VerbsHandle, workRequest: UInt64, local: UnsafeRawPointer, length: Int, localKey: UInt32,
                          remote: UInt64, remoteKey: UInt32, immediate: UInt32) throws(VerbsFailure) {
        let rc = collectives_verbs_post_write_immediate(endpoint(handle), workRequest, local, length, localKey, remote, remoteKey, immediate)
        guard rc == 0 else { throw VerbsFailure("ibv_post_send failed (\(rc))") }
    }

    package func postReceive(_ handle: VerbsHandle, workRequest: UInt64) throws(VerbsFailure) {
        let rc = collectives_verbs_post_receive(endpoint(handle), workRequest)
        guard rc == 0 else { throw VerbsFailure("ibv_post_recv failed (\(rc))") }
    }

    package func poll(_ handle: VerbsHandle, max: Int) -> [VerbsCompletion] {
        var ids = [UInt64](repeating: 0, count: 16), immediates = [UInt32](repeating: 0, count: 16)
        var statuses = [Int32](repeating: 0, count: 16), receives = [Int32](repeating: 0, count: 16)
        let count = collectives_verbs_poll(endpoint(handle), Int32(Swift.min(max, 16)), &ids, &immediates, &statuses, &receives)
        guard count > 0 else { return [] }
        return (0..<Int(count)).map {
            VerbsCompletion(workRequest: ids[$0], immediate: immediates[$0], isReceive: receives[$0] != 0, succeeded: statuses[$0] == 0)
        }
    }
}
