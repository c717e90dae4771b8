import CollectivesTransport
import Synchronization

/// A stand-in for an RDMA device: set-up calls succeed (or one fails, on request), nothing
/// moves, and every call that makes or destroys something is recorded in order.
final class RecordingVerbsDevice: VerbsDevice {
    enum Event: Equatable, CustomStringConvertible {
        case createEndpoint(Int), register(endpoint: Int, region: Int), connect(Int)
        case destroyQueuePair(Int), deregister(Int), destroyEndpoint(Int)

        var description: String {
            switch self {
            case .createEndpoint(let e): return "create e\(e)"
            case .register(let e, let r): return "register r\(r) on e\(e)"
            case .connect(let e): return "connect e\(e)"
            case .destroyQueuePair(let e): return "destroy qp e\(e)"
            case .deregister(let r): return "deregister r\(r)"
            case .destroyEndpoint(let e): return "destroy e\(e)"
            }
        }
    }

    /// Make the `n`-th registration (counting from 1) fail.
    let failingRegistration: Int?
    private let state = Mutex<(events: [Event], next: Int, registrations: Int)>(([], 1, 0))

    init(failingRegistration: Int? = nil) { self.failingRegistration = failingRegistration }

    var events: [Event] { state.withLock { $0.events } }

    private func handle(_ number: Int) -> VerbsHandle { VerbsHandle(UnsafeMutableRawPointer(bitPattern: number * 64)!) }
    private func number(_ handle: VerbsHandle) -> Int { Int(bitPattern: handle.raw) / 64 }

    func probe() -> RDMAAvailability { RDMAAvailability(usable: true, reason: "a recording stand-in", device: 0) }

    func port(device: Int, port: Int) -> Result<VerbsPort, VerbsFailure> {
        .success(VerbsPort(isActive: true, mtu: 5, lid: 1, isEthernet: false, gid: [UInt8](repeating: 0, count: 16)))
    }

    func createEndpoint(device: Int, port: Int, depth: Int) throws(VerbsFailure) -> VerbsHandle {
        state.withLock {
            let n = $0.next
            $0.next += 1
            $0.events.append(.createEndpoint(n))
            return handle(n)
        }
    }

    func queuePairNumber(_ endpoint: VerbsHandle) -> UInt32 { UInt32(number(endpoint)) }

    func connect(_ endpoint: VerbsHandle, to remote: VerbsEndpointInfo, localSequence: UInt32) throws(VerbsFailure) {
        state.withLock { $0.events.append(.connect(number(endpoint))) }
    }

    func register(_ endpoint: VerbsHandle, address: UnsafeMutableRawPointer, bytes: Int) throws(VerbsFailure)
        -> (region: VerbsHandle, localKey: UInt32, remoteKey: UInt32) {
        let made: Int? = state.withLock {
            $0.registrations += 1
            if $0.registrations == failingRegistration { return nil }
            let n = $0.next
            $0.next += 1
            $0.events.append(.register(endpoint: number(endpoint), region: n))
            return n
        }
        guard let made else { throw VerbsFailure("ibv_reg_mr failed (the stand-in was told to fail)") }
        return (handle(made), UInt32(made), UInt32(made))
    }

    func deregister(_ region: VerbsHandle) { state.withLock { $0.events.append(.deregister(number(region))) } }
    func destroyQueuePair(_ endpoint: VerbsHandle) { state.withLock { $0.events.append(.destroyQueuePair(number(endpoint))) } }
    func destroyEndpoint(_ endpoint: VerbsHandle) { state.withLock { $0.events.append(.destroyEndpoint(number(endpoint))) } }

    func postWrite(_ endpoint: VerbsHandle, workRequest: UInt64, local: UnsafeRawPointer, length: Int, localKey: UInt32,
                   remote: UInt64, remoteKey: UInt32, immediate: UInt32) throws(VerbsFailure) {
        throw VerbsFailure("the stand-in moves no data")
    }

    func postReceive(_ endpoint: VerbsHandle, workRequest: UInt64) throws(VerbsFailure) {}

    func poll(_ endpoint: VerbsHandle, max: Int) -> [VerbsCompletion] { [] }

    /// What is wrong with the recorded teardown: every endpoint made is destroyed once, after
    /// its queue pair; every registration is removed once, after every queue pair is destroyed
    /// and before its endpoint is.
    func teardownProblems() -> [String] {
        let events = self.events
        var problems: [String] = []
        func index(_ event: Event) -> [Int] { events.indices.filter { events[$0] == event } }
        let endpoints = events.compactMap { if case .createEndpoint(let e) = $0 { return e } else { return nil } }
        let regions = events.compactMap { if case .register(let e, let r) = $0 { return (e, r) } else { return nil } }
        let lastQueuePair = endpoints.compactMap { index(.destroyQueuePair($0)).first }.max() ?? -1
        for endpoint in endpoints {
            let qp = index(.destroyQueuePair(endpoint)), destroyed = index(.destroyEndpoint(endpoint))
            if qp.count != 1 || destroyed.count != 1 { problems.append("e\(endpoint): queue pair destroyed \(qp.count)×, endpoint \(destroyed.count)×") }
            if let q = qp.first, let d = destroyed.first, q > d { problems.append("e\(endpoint): endpoint destroyed before its queue pair") }
        }
        for (endpoint, region) in regions {
            let removed = index(.deregister(region))
            guard removed.count == 1, let at = removed.first else {
                problems.append("r\(region): deregistered \(removed.count)×")
                continue
            }
            if at < lastQueuePair { problems.append("r\(region) deregistered while a queue pair still existed") }
            if let destroyed = index(.destroyEndpoint(endpoint)).first, destroyed < at {
                problems.append("r\(region) deregistered after its endpoint e\(endpoint) was destroyed")
            }
        }
        return problems
    }
}
