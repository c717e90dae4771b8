import Collectives
import CollectivesSystem
import CollectivesTransport
import Synchronization

/// Runs `body` on `worldSize` threads, each a rank of one communicator over in-process
/// transports, and returns every rank's result (rethrowing the first failure).
func runInProcess<T: Sendable>(worldSize: Int, _ body: @escaping @Sendable (Communicator) throws -> T) throws -> [T] {
    let transports = InProcessTransport.makeGroup(worldSize: worldSize)
    let results = Mutex<[Result<T, any Error>?]>(Array(repeating: nil, count: worldSize))
    let threads = (0..<worldSize).map { rank in
        SystemThread(name: "rank \(rank)") {
            let outcome = Result { () throws -> T in
                let communicator = Communicator(transport: transports[rank])
                defer { communicator.close() }
                return try body(communicator)
            }
            results.withLock { $0[rank] = outcome }
        }
    }
    threads.forEach { $0.join() }
    return try results.withLock { try $0.map { try $0!.get() } }
}
