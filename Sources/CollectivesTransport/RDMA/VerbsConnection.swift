import CollectivesSystem

/// What two ranks exchange out of band (through the store or the TCP mesh) to connect a
/// reliable-connected queue pair and write into each other's memory: 48 bytes, little-endian.
///
/// | bytes | field |
/// |---|---|
/// | 0..<4 | queue pair number |
/// | 4..<8 | initial packet sequence number |
/// | 8..<10 | LID (InfiniBand) |
/// | 10 | MTU (`enum ibv_mtu`) |
/// | 11 | 1 if the GID must be used (RoCE) |
/// | 12..<28 | GID |
/// | 28..<36 | address of the receiver's ring |
/// | 36..<40 | remote key of the ring |
/// | 40..<48 | ring size in bytes |
package struct VerbsEndpointInfo: Sendable, Hashable {
    package static let size = 48

    package var queuePair: UInt32
    package var packetSequence: UInt32
    package var lid: UInt16
    package var mtu: UInt8
    package var usesGID: Bool
    package var gid: [UInt8]
    package var ringAddress: UInt64
    package var ringKey: UInt32
    package var ringBytes: UInt64

    package init(queuePair: UInt32, packetSequence: UInt32, lid: UInt16, mtu: UInt8, usesGID: Bool, gid: [UInt8],
                ringAddress: UInt64, ringKey: UInt32, ringBytes: UInt64) {
        self.queuePair = queuePair
        self.packetSequence = packetSequence & 0xFF_FFFF
        self.lid = lid
        self.mtu = mtu
        self.usesGID = usesGID
        self.gid = gid.count == 16 ? gid : Array(gid.prefix(16)) + [UInt8](repeating: 0, count: Swift.max(0, 16 - gid.count))
        self.ringAddress = ringAddress
        self.ringKey = ringKey
        self.ringBytes = ringBytes
    }

    package func encoded() -> [UInt8] {
        var w = ByteWriter(capacity: Self.size)
        w.write(queuePair)
        w.write(packetSequence)
        w.write(lid)
        w.write(mtu)
        w.write(UInt8(usesGID ? 1 : 0))
        for byte in gid { w.write(byte) }
        w.write(ringAddress)
        w.write(ringKey)
        w.write(ringBytes)
        return w.bytes
    }

    /// Decodes what a peer sent; `nil` for anything malformed (wrong size, PSN over 24 bits,
    /// MTU outside 1…5, a flag other than 0 or 1, an empty ring).
    package static func decode(_ bytes: [UInt8]) -> VerbsEndpointInfo? {
        guard bytes.count == size else { return nil }
        var r = ByteReader(bytes)
        guard let qp = r.read(UInt32.self), let psn = r.read(UInt32.self), psn <= 0xFF_FFFF,
              let lid = r.read(UInt16.self), let mtu = r.read(UInt8.self), (1...5).contains(mtu),
              let flag = r.read(UInt8.self), flag <= 1 else { return nil }
        var gid: [UInt8] = []
        for _ in 0..<16 { guard let byte = r.read(UInt8.self) else { return nil }; gid.append(byte) }
        guard let address = r.read(UInt64.self), let key = r.read(UInt32.self), let ringBytes = r.read(UInt64.self),
              ringBytes > 0 else { return nil }
        return VerbsEndpointInfo(queuePair: qp, packetSequence: psn, lid: lid, mtu: mtu, usesGID: flag == 1, gid: gid,
                                 ringAddress: address, ringKey: key, ringBytes: ringBytes)
    }
}

/// The states a reliable-connected queue pair goes through, and the moves allowed between them
/// (a subset of the verbs state diagram: the ones this library makes).
package enum QueuePairState: String, Sendable, CaseIterable {
    case reset, initialized, readyToReceive, readyToSend, error

    /// Whether moving from this state to `next` is allowed.
    package func canMove(to next: QueuePairState) -> Bool {
        switch (self, next) {
        case (.reset, .initialized), (.initialized, .readyToReceive), (.readyToReceive, .readyToSend): return true
        case (_, .error): return self != .error
        case (_, .reset): return true
        default: return false
        }
    }
}

/// One queue pair to a peer, driven through its states with checks: connect only once
/// initialized, post only once ready to send, and any failure leaves it in ``QueuePairState/error``.
///
/// It does not tear itself down when released: its owner (``RDMAResources``) destroys the queue
/// pair, removes the registrations, then destroys the endpoint, in that order.
package final class VerbsQueuePair: @unchecked Sendable {
    package private(set) var state: QueuePairState = .reset
    let device: any VerbsDevice
    let endpoint: VerbsHandle
    package let localSequence: UInt32

    /// Opens device `index` and makes a queue pair on `port`, moving it to INIT.
    package init(device index: Int, port: Int = 1, depth: Int = 256, on device: any VerbsDevice = HardwareVerbsDevice.shared) throws(VerbsFailure) {
        self.device = device
        localSequence = UInt32.random(in: 0...0xFF_FFFF)
        endpoint = try device.createEndpoint(device: index, port: port, depth: depth)
        try move(to: .initialized)
    }

    package var number: UInt32 { device.queuePairNumber(endpoint) }

    private func move(to next: QueuePairState) throws(VerbsFailure) {
        guard state.canMove(to: next) else {
            state = .error
            throw VerbsFailure("queue pair cannot move from \(state) to \(next)")
        }
        state = next
    }

    /// Moves to RTR then RTS towards the peer described by `remote`.
    package func connect(to remote: VerbsEndpointInfo) throws(VerbsFailure) {
        guard state == .initialized else { throw VerbsFailure("queue pair is \(state), not initialized") }
        do {
            try device.connect(endpoint, to: remote, localSequence: localSequence)
        } catch {
            state = .error
            throw error
        }
        try move(to: .readyToReceive)
        try move(to: .readyToSend)
    }

    /// Destroys the queue pair (not yet the endpoint): no transfer touches its memory after this.
    func destroyQueuePair() {
        device.destroyQueuePair(endpoint)
        state = .error
    }
}

extension VerbsQueuePair {
    /// Registers `bytes` at `address` for local and remote writes.
    func register(_ address: UnsafeMutableRawPointer, bytes: Int) throws(VerbsFailure) -> (region: VerbsHandle, localKey: UInt32, remoteKey: UInt32) {
        try device.register(endpoint, address: address, bytes: bytes)
    }

    func postWrite(_ workRequest: UInt64, local: UnsafeRawPointer, length: Int, localKey: UInt32, remote: UInt64, remoteKey: UInt32,
                   immediate: UInt32) throws(VerbsFailure) {
        guard state == .readyToSend else { throw VerbsFailure("queue pair is \(state), not ready to send") }
        try device.postWrite(endpoint, workRequest: workRequest, local: local, length: length, localKey: localKey,
                             remote: remote, remoteKey: remoteKey, immediate: immediate)
    }

    func postReceive(_ workRequest: UInt64) throws(VerbsFailure) {
        guard state == .initialized || state == .readyToReceive || state == .readyToSend else {
            throw VerbsFailure("queue pair is \(state)")
        }
        try device.postReceive(endpoint, workRequest: workRequest)
    }

    func poll(max: Int) -> [VerbsCompletion] { device.poll(endpoint, max: max) }
}
