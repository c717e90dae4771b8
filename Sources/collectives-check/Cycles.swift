import ArgumentParser
import Collectives
import CollectivesRendezvous
import CollectivesSystem
import CommandLineSupport
import Synchronization


/// `collectives-check --cycles N`: in this one process, N times, two ranks (threads) meet through
/// a TCP store over loopback, connect, all-reduce, and close, as a job's processes would; then
/// says how many file descriptors and threads the process holds before and after. Run as a
/// process of its own, so that nothing else opens descriptors or starts threads meanwhile.
enum Cycles {
    /// Entries of a `/proc/self` directory (descriptors or threads), or nil without `/proc`.
    static func count(_ directory: String) -> Int? {
        guard let names = FileSystem.entries(of: directory) else { return nil }
        return names.count - (directory.hasSuffix("/fd") ? 1 : 0)  // the directory being read
    }

    /// A field of /proc/self/status in MiB (VmHWM: peak resident; VmRSS: resident now), 0 where
    /// it cannot be read.
    static func statusMiB(_ field: String) -> Int {
        for line in (FileSystem.text(of: "/proc/self/status") ?? "").split(separator: "\n") where line.hasPrefix(field + ":") {
            if let kib = line.split(separator: " ").compactMap({ Int($0) }).first { return kib / 1024 }
        }
        return 0
    }

    static func one(transport: TransportChoice) throws {
        let server = try TCPStoreServer(listeningOn: .loopback(port: 0))
        defer { server.close() }
        let outcomes = Mutex<[String?]>([nil, nil])
        let threads = try (0..<2).map { rank in
            try SystemThread(starting: "rank \(rank)") {
                var configuration = LaunchConfiguration(rank: rank, worldSize: 2, masterAddress: "127.0.0.1",
                                                        masterPort: server.address.port, timeoutSeconds: 30)
                configuration.externalStore = true
                var options = CommunicatorOptions()
                options.transport = transport
                do {
                    let communicator = try Communicator(configuration: configuration, options: options)
                    defer { communicator.close() }
                    var values = [Int32](repeating: Int32(rank + 1), count: 1001)
                    try communicator.allReduce(&values)
                    if values != [Int32](repeating: 3, count: 1001) { throw CollectivesError(.invalidArgument, rank: rank, operation: "check", reason: "wrong sum") }
                    outcomes.withLock { $0[rank] = "ok" }
                } catch {
                    outcomes.withLock { $0[rank] = "\(error)" }
                }
            }
        }
        threads.forEach { $0.join() }
        let results = outcomes.withLock { $0 }
        guard results.allSatisfy({ $0 == "ok" }) else { throw CollectivesError(.rendezvous, rank: nil, operation: "cycle", reason: "\(results)") }
    }

    /// Runs the cycles and prints one line; exits 1 if a cycle fails or anything is left over.
    static func run(_ cycles: Int, transport: TransportChoice) throws {
        guard count("/proc/self/fd") != nil, count("/proc/self/task") != nil else {
            Console.error("collectives-check --cycles needs /proc (Linux)")
            throw ExitCode(2)
        }
        // One cycle first: what is made once per process (logging, the verbs probe) is not a leak.
        try one(transport: transport)
        let descriptors = count("/proc/self/fd")!, threads = count("/proc/self/task")!
        let started = Deadline.now
        for _ in 0..<cycles { try one(transport: transport) }
        let seconds = MonotonicClock.seconds(since: started.uptimeNanoseconds)
        // Threads that were joined are gone at once; allow a moment for the kernel's bookkeeping.
        var descriptorsAfter = count("/proc/self/fd")!, threadsAfter = count("/proc/self/task")!
        for _ in 0..<20 where descriptorsAfter != descriptors || threadsAfter > threads {
            sleepSeconds(0.1)
            descriptorsAfter = count("/proc/self/fd")!
            threadsAfter = count("/proc/self/task")!
        }
        Console.say("cycles: \(cycles) over \(transport.rawValue) in \((seconds * 10).rounded() / 10) s; "
                    + "descriptors \(descriptors) -> \(descriptorsAfter); threads \(threads) -> \(threadsAfter)")
        // Fewer threads is not a leak: a thread pool of the runtime may have retired one.
        if descriptorsAfter != descriptors || threadsAfter > threads { throw ExitCode(1) }
    }
}
