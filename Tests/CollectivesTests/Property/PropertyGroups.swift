import Collectives
import CollectivesSystem
import CollectivesTestSupport
import CollectivesTransport
import Synchronization

/// Where the property tests' ranks run: threads of this process over each transport.
enum PropertyTransport: String, CaseIterable, Sendable, CustomStringConvertible {
    /// In-process queues.
    case inProcess = "in-process"
    /// TCP over loopback.
    case tcp
    /// Shared-memory rings (single copy from 4 KiB).
    case sharedMemory = "shm"
    /// Two emulated hosts (even and odd ranks): shared memory inside each, TCP across.
    case routed = "shm+tcp"

    var description: String { rawValue }

    /// `worldSize` connected transports, by rank.
    func makeGroup(worldSize: Int) throws -> [any Transport] {
        switch self {
        case .inProcess: return InProcessTransport.makeGroup(worldSize: worldSize)
        case .tcp: return try TestGroups.tcp(worldSize: worldSize)
        case .sharedMemory: return try TestGroups.sharedMemory(worldSize: worldSize, singleCopyBytes: 4096)
        case .routed: return try TestGroups.routed(worldSize: worldSize, hostOf: { $0 % 2 })
        }
    }
}

/// Communicators made once for each world size and segment size of a test, closed at its end.
final class CommunicatorPool: @unchecked Sendable {
    struct Key: Hashable {
        var worldSize: Int
        var segmentBytes: Int
    }

    let transport: PropertyTransport
    private let groups = Mutex<[Key: [Communicator]]>([:])

    init(_ transport: PropertyTransport) { self.transport = transport }

    func communicators(worldSize: Int, segmentBytes: Int) throws -> [Communicator] {
        let key = Key(worldSize: worldSize, segmentBytes: segmentBytes)
        if let group = groups.withLock({ $0[key] }) { return group }
        var options = CommunicatorOptions()
        options.timeoutSeconds = 60
        options.ringSegmentBytes = segmentBytes
        options.treeSegmentBytes = segmentBytes
        let settings = options
        let group = try transport.makeGroup(worldSize: worldSize).map { Communicator(transport: $0, options: settings) }
        groups.withLock { $0[key] = group }
        return group
    }

    func close() {
        for group in groups.withLock({ $0.values }) { group.forEach { $0.close() } }
    }
}
