import CollectivesSystem
import CollectivesTransport
import Synchronization

/// Groups of connected transports whose ranks are threads of this process, for the tests of
/// every module: TCP over loopback, shared memory, and both routed as on two emulated hosts.
package enum TestGroups {
    /// `worldSize` TCP transports connected over loopback, made by one thread per rank.
    package static func tcp(worldSize: Int, options: TCPOptions = TCPOptions(), jobID: UInt64 = 42) throws -> [TCPTransport] {
        let listeners = try (0..<worldSize).map { _ in try Socket.listen(on: .loopback(port: 0)) }
        defer { listeners.forEach { $0.close() } }
        let addresses = try listeners.map { try $0.localAddress() }
        return try byRank(worldSize) { rank throws(TransportError) in
            try TCPTransport.establish(rank: rank, worldSize: worldSize, jobID: jobID, listener: listeners[rank],
                                       peerAddresses: addresses, options: options, deadline: .after(seconds: 20))
        }
    }

    /// `worldSize` shared-memory transports, made by one thread per rank.
    package static func sharedMemory(worldSize: Int, ringBytes: Int = 64 << 10, singleCopyBytes: Int = 0,
                                    jobID: UInt64 = .random(in: 1...UInt64.max), group: UInt64 = 0) throws -> [SharedMemoryTransport] {
        let board = ExchangeBoard(worldSize: worldSize)
        var settings = SharedMemoryOptions()
        settings.ringBytes = ringBytes
        settings.singleCopyBytes = singleCopyBytes
        let options = settings
        return try byRank(worldSize) { rank throws(TransportError) in
            try SharedMemoryTransport.establish(rank: rank, worldSize: worldSize, jobID: jobID, group: group, options: options,
                                                allGather: { board.allGather(rank: rank, $0) })
        }
    }

    /// `worldSize` ranks on emulated hosts (`hostOf(rank)`): shared memory among each host's
    /// ranks, TCP across, as ``RoutedTransport`` routes them when a job spans hosts. A host with
    /// one rank has TCP only, as in a real job.
    package static func routed(worldSize: Int, hostOf: (Int) -> Int) throws -> [any Transport] {
        guard worldSize > 1 else { return [SingleRankTransport()] }
        let tcp = try tcp(worldSize: worldSize, jobID: .random(in: 1...UInt64.max))
        let hosts = (0..<worldSize).map(hostOf)
        var transports: [any Transport] = tcp
        for host in Set(hosts) {
            let members = (0..<worldSize).filter { hosts[$0] == host }
            guard members.count > 1 else { continue }
            let shared = try sharedMemory(worldSize: members.count, singleCopyBytes: 4096, group: UInt64(host) + 1)
            for (local, member) in members.enumerated() {
                transports[member] = RoutedTransport(tcp: tcp[member], sharedMemory: shared[local], localMembers: members)
            }
        }
        return transports
    }

    /// Runs `make` for every rank on a thread of its own; the transports by rank, or the first error.
    static func byRank<T: Sendable>(_ worldSize: Int, _ make: @escaping @Sendable (Int) throws(TransportError) -> T) throws -> [T] {
        let results = Locked<[Result<T, TransportError>?]>(Array(repeating: nil, count: worldSize))
        let threads = (0..<worldSize).map { rank in
            SystemThread(name: "rank \(rank)") {
                let result = Result { () throws(TransportError) in try make(rank) }
                results.withLock { $0[rank] = result }
            }
        }
        for thread in threads { thread.join() }
        return try results.withLock { try $0.map { try $0!.get() } }
    }
}

/// An all-gather between threads that play ranks, for setting up shared memory in one process.
package final class ExchangeBoard: @unchecked Sendable {
    private let lock = ConditionLock()
    private var rounds: [[[UInt8]?]] = []
    private var calls: [Int]
    package let worldSize: Int

    package init(worldSize: Int) {
        self.worldSize = worldSize
        calls = Array(repeating: 0, count: worldSize)
    }

    package func allGather(rank: Int, _ bytes: [UInt8]) -> [[UInt8]] {
        lock.withLock {
            let round = calls[rank]
            calls[rank] += 1
            while rounds.count <= round { rounds.append(Array(repeating: nil, count: worldSize)) }
            rounds[round][rank] = bytes
            lock.broadcast()
            while rounds[round].contains(where: { $0 == nil }) { _ = lock.wait(until: .after(seconds: 10)) }
            return rounds[round].map { $0! }
        }
    }
}
