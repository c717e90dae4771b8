import CollectivesTestSupport
import CollectivesRendezvous
import CollectivesSystem
import Synchronization
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// The same behaviour from every store.
@Suite(.serialized) struct StoreTests {
    /// A file store that cannot make its folder says which call failed, with its errno as a
    /// value (not text to be searched).
    @Test func aFileStoreFailureCarriesTheCallAndErrno() {
        do {
            _ = try FileStore(directory: "/proc/no-such-folder/store")
            Issue.record("a file store was made under /proc")
        } catch {
            guard case .fileSystem(let path, let cause) = error else {
                Issue.record("expected .fileSystem, got \(error)")
                return
            }
            #expect(path == "/proc/no-such-folder/store")
            #expect(cause.call == "mkdir" && cause.errno == ENOENT, "\(cause)")
            #expect(error.description.contains("mkdir"), "\(error)")
        }
    }

    /// `parked` counts the waiters parked for a key (where `store`'s waits park: in it, or on
    /// its server).
    static func exercise(_ store: any Store, _ other: any Store, parked: @escaping @Sendable () -> Int) throws {
        try store.set("a", [1, 2, 3])
        #expect(try other.get("a", deadline: .after(seconds: 5)) == [1, 2, 3])
        #expect(try store.check(["a"]))
        #expect(try !store.check(["a", "missing"]))
        #expect(try store.add("counter", 2) == 2)
        #expect(try other.add("counter", 3) == 5)
        #expect(try store.add("counter", -5) == 0)
        // get waits for a key set later by another thread.
        let setter = SystemThread(name: "setter") {
            #expect(awaitParked(parked), "the getter never parked")
            #expect(throws: Never.self) { try other.set("late/key", string: "hello") }
        }
        #expect(try store.getString("late/key", deadline: .after(seconds: 5)) == "hello")
        setter.join()
        try store.wait(["a", "late/key"], deadline: .after(seconds: 1))
        // Waiting for what never comes times out, naming the key, in bounded time.
        let start = Deadline.now
        let error = #expect(throws: RendezvousError.self) { try store.wait(["never"], deadline: .after(seconds: 0.3)) }
        #expect(error?.description.contains("never") == true)
        #expect(Deadline.now.uptimeNanoseconds - start.uptimeNanoseconds < 5_000_000_000)
        #expect(throws: RendezvousError.self) { _ = try store.get("never", deadline: .after(seconds: 0.2)) }
        // Empty values are values.
        try store.set("empty", [])
        #expect(try other.get("empty", deadline: .after(seconds: 1)) == [])
    }

    @Test func inMemory() throws {
        let store = InMemoryStore()
        try Self.exercise(store, store, parked: { store.gauge.value })
    }

    @Test func file() throws {
        let directory = "/tmp/collectives-filestore-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
        defer { _ = system("rm -rf '\(directory)'") }
        let store = try FileStore(directory: directory)
        try Self.exercise(store, try FileStore(directory: directory), parked: { store.gauge.value })
    }

    @Test func tcp() throws {
        let server = try TCPStoreServer(listeningOn: .loopback(port: 0))
        defer { server.close() }
        let a = try TCPStore(connectingTo: server.address, deadline: .after(seconds: 5))
        let b = try TCPStore(connectingTo: server.address, deadline: .after(seconds: 5))
        try Self.exercise(a, b, parked: { server.parkedWaiters })
        #expect(try a.localAddress().isLoopback)
    }

    @Test func prefixStoresDoNotCollide() throws {
        let base = InMemoryStore()
        let one = PrefixStore(prefix: "one", base: base), two = PrefixStore(prefix: "two", base: base)
        try one.set("k", [1])
        try two.set("k", [2])
        #expect(try one.get("k", deadline: .after(seconds: 1)) == [1])
        #expect(try two.get("k", deadline: .after(seconds: 1)) == [2])
    }

    @Test func aServerOnAPortInUseSaysSo() throws {
        let server = try TCPStoreServer(listeningOn: .loopback(port: 0))
        defer { server.close() }
        let error = #expect(throws: RendezvousError.self) { _ = try TCPStoreServer(listeningOn: server.address) }
        #expect(error?.description.contains("in use") == true, "\(String(describing: error))")
        // The cause is a value, not text to search: the errno of the bind.
        if case .cannotListen(_, .system(let cause)) = error {
            #expect(cause.errno == EADDRINUSE, "\(cause)")
        } else {
            Issue.record("not cannotListen with a system error: \(String(describing: error))")
        }
    }

    @Test func aStoreThatGoesAwayIsAnError() throws {
        let server = try TCPStoreServer(listeningOn: .loopback(port: 0))
        let client = try TCPStore(connectingTo: server.address, deadline: .after(seconds: 5))
        try client.set("x", [1])
        server.close()
        let error = #expect(throws: RendezvousError.self) { _ = try client.get("y", deadline: .after(seconds: 5)) }
        #expect(error?.description.contains("lost the connection") == true, "\(String(describing: error))")
    }

    @Test func garbageDoesNotStopTheServer() throws {
        let server = try TCPStoreServer(listeningOn: .loopback(port: 0))
        defer { server.close() }
        let rogue = try Socket.connect(to: server.address, deadline: .after(seconds: 5))
        try rogue.sendAll(Array(repeating: 0xAB, count: 64), deadline: .after(seconds: 5))
        rogue.close()
        let client = try TCPStore(connectingTo: server.address, deadline: .after(seconds: 5))
        try client.set("still", [1])
        #expect(try client.get("still", deadline: .after(seconds: 1)) == [1])
    }

    @Test func aWrongOrMissingSecretIsRefusedAndTheServerGoesOn() throws {
        let server = try TCPStoreServer(listeningOn: .loopback(port: 0), secret: JobSecret("right"))
        defer { server.close() }
        for secret in [JobSecret("wrong"), JobSecret.none] {
            let error = #expect(throws: RendezvousError.self) {
                _ = try TCPStore(connectingTo: server.address, deadline: .after(seconds: 5), secret: secret)
            }
            #expect(error?.description.contains("COLLECTIVES_JOB_SECRET") == true, "\(String(describing: error))")
        }
        let client = try TCPStore(connectingTo: server.address, deadline: .after(seconds: 5), secret: JobSecret("right"))
        try client.set("in", [7])
        #expect(try client.get("in", deadline: .after(seconds: 1)) == [7])
    }

    /// Random bytes, greetings followed by garbage, absurd frame lengths, truncated frames and
    /// connections that say nothing, all at once against a live server; it answers a real client
    /// throughout and allocates nothing unbounded (a 4 GiB frame length is refused unread).
    @Test func hostileClientsDoNotStopTheServer() throws {
        let server = try TCPStoreServer(listeningOn: .loopback(port: 0))
        defer { server.close() }
        var generator = SystemRandomNumberGenerator()
        var silent: [Socket] = []
        for round in 0..<200 {
            let rogue = try Socket.connect(to: server.address, deadline: .after(seconds: 5))
            var bytes: [UInt8]
            switch round % 5 {
            case 0: bytes = (0..<Int.random(in: 1...512, using: &generator)).map { _ in UInt8.random(in: 0...255, using: &generator) }
            case 1: bytes = [0x43, 0x4F, 0x4C, 0x53] + (0..<20).map { _ in UInt8.random(in: 0...255, using: &generator) }
            case 2: bytes = [0xFF, 0xFF, 0xFF, 0xFF, 1, 2, 3]  // a 4 GiB frame length
            case 3: bytes = [0x10, 0x00]  // a truncated length
            default:
                silent.append(rogue)  // half-open: connects and says nothing
                continue
            }
            try? rogue.sendAll(bytes, deadline: .after(seconds: 1))
            rogue.close()
        }
        let client = try TCPStore(connectingTo: server.address, deadline: .after(seconds: 10))
        try client.set("alive", [1])
        #expect(try client.get("alive", deadline: .after(seconds: 1)) == [1])
        silent.forEach { $0.close() }
    }

    /// A call that fails half way (here: its reply comes after the client's deadline) drops the
    /// connection; the next call gets its own reply on a new one, never the late reply.
    @Test func aFailedCallIsNotFollowedByItsLateReply() throws {
        let server = try TCPStoreServer(listeningOn: .loopback(port: 0), secret: JobSecret("s"))
        defer { server.close() }
        let client = try TCPStore(connectingTo: server.address, deadline: .after(seconds: 5), secret: JobSecret("s"))
        try client.set("small", [42])
        // A 48 MiB value: sending and authenticating it takes longer than a 1 ms call timeout.
        client.callTimeoutSeconds = 0.001
        let error = #expect(throws: RendezvousError.self) { try client.set("big", [UInt8](repeating: 7, count: 48 << 20)) }
        #expect(error?.description.contains("lost the connection") == true, "\(String(describing: error))")
        client.callTimeoutSeconds = 60
        #expect(try client.get("small", deadline: .after(seconds: 5)) == [42])
        #expect(try client.add("counter", 5) == 5)
        #expect(try client.check(["small"]))
    }

    /// Closing the server wakes its threads that wait in `get` and `wait` for a client's long
    /// deadline: `close()` returns at once, and the waiting clients learn the store is gone.
    @Test func closeWakesClientsWaitingOnTheServer() throws {
        let server = try TCPStoreServer(listeningOn: .loopback(port: 0))
        let clients = try (0..<3).map { _ in try TCPStore(connectingTo: server.address, deadline: .after(seconds: 5)) }
        let outcomes = Locked<[String]>([])
        let waiters = clients.enumerated().map { index, client in
            SystemThread(name: "waiter \(index)") {
                do {
                    if index == 0 { try client.wait(["never"], deadline: .after(seconds: 600)) } else { _ = try client.get("never", deadline: .after(seconds: 600)) }
                    outcomes.withLock { $0.append("returned") }
                } catch {
                    outcomes.withLock { $0.append("\(error)") }
                }
            }
        }
        // The waits are on the server once it has a thread per client and they sent their
        // requests; a check from a fourth client is answered after them on the same store.
        let probe = try TCPStore(connectingTo: server.address, deadline: .after(seconds: 5))
        #expect(try !probe.check(["never"]))
        #expect(awaitParked(atLeast: 3) { server.parkedWaiters }, "the three waits never reached the server")
        let started = Deadline.now
        server.close()
        let seconds = Double(Deadline.now.uptimeNanoseconds - started.uptimeNanoseconds) / 1e9
        waiters.forEach { $0.join() }
        #expect(seconds < 2, "close() took \(seconds) s")
        let got = outcomes.withLock { $0 }
        #expect(got.count == 3 && got.allSatisfy { $0.contains("lost the connection") }, "\(got)")
    }

    /// A server that does not know the job's secret cannot pass itself off as the job's store:
    /// the client refuses it, saying why, before sending it anything but a challenge.
    @Test func aServerWithoutTheSecretIsRefused() throws {
        let impostor = try TCPStoreServer(listeningOn: .loopback(port: 0), secret: JobSecret("another job"))
        defer { impostor.close() }
        let error = #expect(throws: RendezvousError.self) {
            _ = try TCPStore(connectingTo: impostor.address, deadline: .after(seconds: 5), secret: JobSecret("ours"))
        }
        guard case .storeNotAuthentic = error else {
            Issue.record("expected storeNotAuthentic, got \(String(describing: error))")
            return
        }
        #expect(error?.description.contains("could not prove it knows the job's secret") == true)
    }
}
