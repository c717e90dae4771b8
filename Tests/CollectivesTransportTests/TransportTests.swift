#if canImport(Glibc)
import Glibc
#endif
import CollectivesSystem
import CollectivesTestSupport
import CollectivesTransport
import Synchronization
import Testing

/// Two TCP transports connected over loopback, made by two threads as two ranks would.
func connectedTCPPair(jobID: UInt64 = 42, streams: Int = 1, stripeThreshold: Int = 256 << 10,
                      authenticateFrames: Bool = false) throws -> [TCPTransport] {
    var settings = TCPOptions()
    settings.streams = streams
    settings.stripeThresholdBytes = stripeThreshold
    settings.authenticateFrames = authenticateFrames
    if authenticateFrames { settings.secret = JobSecret("frames") }
    return try TestGroups.tcp(worldSize: 2, options: settings, jobID: jobID)
}

/// `worldSize` shared-memory transports in this process, made by one thread per rank.
func sharedMemoryGroup(worldSize: Int = 2, ringBytes: Int = 64 << 10, singleCopyBytes: Int = 0,
                       jobID: UInt64 = .random(in: 1...UInt64.max)) throws -> [SharedMemoryTransport] {
    try TestGroups.sharedMemory(worldSize: worldSize, ringBytes: ringBytes, singleCopyBytes: singleCopyBytes, jobID: jobID)
}

/// The contract of ``Transport`` checked on each implementation.
@Suite(.serialized) struct TransportConformanceTests {
    static func pairs() throws -> [(String, [any Transport])] {
        // Three streams with a 1000-byte threshold: the 4096-byte and 3 MiB messages are cut into
        // stripes that do not divide them evenly.
        [("in-process", InProcessTransport.makeGroup(worldSize: 2)), ("tcp", try connectedTCPPair()),
         ("tcp, 3 streams", try connectedTCPPair(streams: 3, stripeThreshold: 1000)),
         ("tcp, authenticated frames, 2 streams", try connectedTCPPair(streams: 2, stripeThreshold: 1000, authenticateFrames: true)),
         // Shared memory with every byte through the ring (the default), and with single copy from 128 KiB.
         ("shm", try sharedMemoryGroup()), ("shm, single copy", try sharedMemoryGroup(singleCopyBytes: 128 << 10)),
         // The RDMA transport's protocol over in-memory queue pairs, with rings small enough to wrap.
         ("verbs protocol", try InMemoryVerbsFabric(worldSize: 2, ringBytes: 48 << 10).makeGroup(depth: 16)),
         // The routed shm+tcp transport of three ranks on two emulated hosts: ranks 0 and 1 on one
         // host (their pair over shared memory, rank 0's pair with rank 2 over TCP), then on two
         // (their pair over TCP, each with shared memory to a third). A failure on either medium
         // fails the whole transport. The third rank is closed with the pair.
         ("shm+tcp, pair inside a host", try TestGroups.routed(worldSize: 3, hostOf: { $0 == 2 ? 1 : 0 })),
         ("shm+tcp, pair across hosts", try TestGroups.routed(worldSize: 3, hostOf: { $0 == 1 ? 1 : 0 }))]
    }

    @Test func orderingLargeAndZeroLengthMessages() throws {
        for (name, pair) in try Self.pairs() {
            defer { pair.forEach { $0.close() } }
            let sizes = [0, 1, 4096, 3 << 20, 0, 17]
            let sent = sizes.enumerated().map { i, size in (0..<size).map { UInt8(truncatingIfNeeded: $0 &* 31 &+ i) } }
            let receivedBox = Locked<[[UInt8]]>([])
            let failures = Locked<[String]>([])
            let receiver = SystemThread(name: "receiver") {
                var received: [[UInt8]] = []
                for (index, size) in sizes.enumerated() {
                    var buffer = [UInt8](repeating: 0xEE, count: size)
                    let outcome = buffer.withUnsafeMutableBytes { raw in
                        Result { () throws(TransportError) in try pair[1].receive(into: raw, from: 0, tag: 7, deadline: .after(seconds: 10)) }
                    }
                    if case .failure(let error) = outcome { failures.withLock { $0.append("message \(index) (\(size) bytes): \(error)") } }
                    received.append(buffer)
                }
                receivedBox.withLock { $0 = received }
            }
            var requests: [TransportRequest] = []
            for message in sent {
                requests.append(try message.withUnsafeBytes { try pair[0].postSend($0, to: 1, tag: 7) })
            }
            // The arrays above outlive the requests: wait before they go.
            try pair[0].waitAll(requests, deadline: .after(seconds: 10))
            receiver.join()
            #expect(failures.withLock { $0 }.isEmpty, "\(name): \(failures.withLock { $0 })")
            let same = receivedBox.withLock { $0 } == sent
            #expect(same, "\(name): the messages differ")
        }
    }

    @Test func fullDuplexExchangeDoesNotDeadlock() throws {
        for (name, pair) in try Self.pairs() {
            defer { pair.forEach { $0.close() } }
            let size = 16 << 20  // larger than any socket buffer
            let ok = Locked<[Bool]>([false, false])
            let threads = (0..<2).map { rank in
                SystemThread(name: "rank \(rank)") {
                    let out = [UInt8](repeating: UInt8(rank + 1), count: size)
                    var into = [UInt8](repeating: 0, count: size)
                    do {
                        try out.withUnsafeBytes { o in
                            try into.withUnsafeMutableBytes { i in
                                let s = try pair[rank].postSend(o, to: 1 - rank, tag: 1)
                                let r = try pair[rank].postReceive(into: i, from: 1 - rank, tag: 1)
                                try pair[rank].wait(r, deadline: .after(seconds: 20))
                                try pair[rank].wait(s, deadline: .after(seconds: 20))
                            }
                        }
                        let good = into.allSatisfy { $0 == UInt8(2 - rank) }
                        ok.withLock { $0[rank] = good }
                    } catch {}
                }
            }
            threads.forEach { $0.join() }
            #expect(ok.withLock { $0 } == [true, true], "\(name)")
        }
    }

    @Test func waitingPastTheDeadlineTimesOutNamingThePeer() throws {
        for (name, pair) in try Self.pairs() {
            defer { pair.forEach { $0.close() } }
            var buffer = [UInt8](repeating: 0, count: 8)
            let start = Deadline.now
            let error = buffer.withUnsafeMutableBytes { raw in
                #expect(throws: TransportError.self) {
                    try pair[0].receive(into: raw, from: 1, tag: 1, deadline: .after(seconds: 0.2))
                }
            }
            #expect(error?.kind == .timedOut, "\(name)")
            #expect(Deadline.now.uptimeNanoseconds - start.uptimeNanoseconds < 3_000_000_000)
            if name == "tcp" { #expect(error?.description.contains("from rank 1") == true, "\(String(describing: error))") }
        }
    }

    @Test func mismatchedLengthOrTagIsAnError() throws {
        for (name, pair) in try Self.pairs() {
            defer { pair.forEach { $0.close() } }
            let out = [UInt8](repeating: 1, count: 10)
            var into = [UInt8](repeating: 0, count: 12)
            let error = try out.withUnsafeBytes { o in
                let s = try pair[0].postSend(o, to: 1, tag: 5)
                defer { _ = try? pair[0].wait(s, deadline: .after(seconds: 1)) }
                return into.withUnsafeMutableBytes { i in
                    #expect(throws: TransportError.self) { try pair[1].receive(into: i, from: 0, tag: 5, deadline: .after(seconds: 5)) }
                }
            }
            #expect(error?.kind == .mismatch(error.map { if case .mismatch(let w) = $0.kind { w } else { "" } } ?? ""), "\(name)")
        }
    }

    @Test func aPeerThatClosesFailsPendingReceives() throws {
        for (name, pair) in [("tcp", try connectedTCPPair() as [any Transport]), ("shm", try sharedMemoryGroup())] {
            try closedPeer(name, pair)
        }
    }

    func closedPeer(_ name: String, _ pair: [any Transport]) throws {
        defer { pair.forEach { $0.close() } }
        var into = [UInt8](repeating: 0, count: 100)
        let closer = SystemThread(name: "closer") {
            // Rank 0 is parked in its receive before its peer closes.
            #expect(awaitParked { (pair[0] as! any TransportProbe).parkedWaiters }, "\(name): no waiter parked")
            pair[1].close()
        }
        let error = into.withUnsafeMutableBytes { i in
            #expect(throws: TransportError.self) { try pair[0].receive(into: i, from: 1, tag: 1, deadline: .after(seconds: 10)) }
        }
        closer.join()
        #expect(error?.kind == .peerGone, "\(name): \(String(describing: error))")
    }

    @Test func closeWakesAWaiter() throws {
        for pair in [try connectedTCPPair() as [any Transport], try sharedMemoryGroup()] {
            try closeWakes(pair)
        }
    }

    func closeWakes(_ pair: [any Transport]) throws {
        defer { pair[1].close() }
        var into = [UInt8](repeating: 0, count: 100)
        let closer = SystemThread(name: "closer") {
            #expect(awaitParked { (pair[0] as! any TransportProbe).parkedWaiters }, "\(pair[0].name): no waiter parked")
            pair[0].close()
        }
        let start = Deadline.now
        _ = into.withUnsafeMutableBytes { i in
            #expect(throws: TransportError.self) { try pair[0].receive(into: i, from: 1, tag: 1, deadline: .after(seconds: 10)) }
        }
        closer.join()
        #expect(Deadline.now.uptimeNanoseconds - start.uptimeNanoseconds < 5_000_000_000)
    }
}

@Suite struct SharedMemoryTests {
    @Test func segmentsAreGoneOnceSetUpAndStaleOnesAreRemoved() throws {
        // A segment left by a process that no longer exists (pid 2^22 - 1 is above pid_max on
        // most systems; if it exists the test only checks the rest).
        let stale = "/dev/shm/swift-collectives-4194303-1-0-0"
        if let file = fopen(stale, "w") { fclose(file) }
        let jobID = UInt64.random(in: 1...UInt64.max)
        let group = try sharedMemoryGroup(worldSize: 3, jobID: jobID)
        defer { group.forEach { $0.close() } }
        #expect(access(stale, F_OK) != 0, "the stale segment is still there")
        // Other tests may be setting up their own at this moment: look for this group's only.
        let left = try listSharedMemory().filter { $0.contains("-\(String(jobID, radix: 16))-") }
        #expect(left.isEmpty, "\(left)")
    }

    @Test(arguments: [0, 4096])
    func messagesLargerThanTheRingAndMismatches(singleCopyBytes: Int) throws {
        let group = try sharedMemoryGroup(worldSize: 3, ringBytes: 4096, singleCopyBytes: singleCopyBytes)
        defer { group.forEach { $0.close() } }
        // 1 MiB through 4 KiB rings, from two senders at once, and a 3-byte message between.
        let size = 1 << 20
        let received = Locked<[Bool]>([])
        let receiver = SystemThread(name: "receiver") {
            var a = [UInt8](repeating: 0, count: size), b = [UInt8](repeating: 0, count: size), c = [UInt8](repeating: 0, count: 3)
            a.withUnsafeMutableBytes { a in
                b.withUnsafeMutableBytes { b in
                    c.withUnsafeMutableBytes { c in
                        let r1 = try? group[0].postReceive(into: a, from: 1, tag: 5)
                        let r2 = try? group[0].postReceive(into: b, from: 2, tag: 6)
                        let r3 = try? group[0].postReceive(into: c, from: 1, tag: 7)
                        for r in [r1, r2, r3] { try? group[0].wait(r!, deadline: .after(seconds: 20)) }
                    }
                }
            }
            received.withLock { $0 = [a.allSatisfy { $0 == 1 }, b.allSatisfy { $0 == 2 }, c == [9, 9, 9]] }
        }
        let senders = (1...2).map { rank in
            SystemThread(name: "sender \(rank)") {
                let out = [UInt8](repeating: UInt8(rank), count: size)
                out.withUnsafeBytes { try? group[rank].send($0, to: 0, tag: MessageTag(UInt64(4 + rank)), deadline: .after(seconds: 20)) }
                if rank == 1 { [UInt8](repeating: 9, count: 3).withUnsafeBytes { try? group[1].send($0, to: 0, tag: 7, deadline: .after(seconds: 20)) } }
            }
        }
        receiver.join()
        senders.forEach { $0.join() }
        #expect(received.withLock { $0 } == [true, true, true])
    }

    /// Thousands of messages of uneven sizes through an 8 KiB ring: whenever the ring is empty
    /// past its first quarter the sender goes back to its start behind a padding frame, which the
    /// receiver must skip whether its receive was posted before or after. Every message arrives
    /// whole and in order.
    @Test func paddingFramesRewindTheRingWithoutLosingAMessage() throws {
        let group = try sharedMemoryGroup(worldSize: 2, ringBytes: 8192)
        defer { group.forEach { $0.close() } }
        let sizes = (0..<3000).map { ($0 * 7919) % 3001 }
        let wrong = Locked<Int>(-1)
        let receiver = SystemThread(name: "receiver") {
            var bad = 0
            var buffer = [UInt8](repeating: 0, count: 3001)
            for (index, size) in sizes.enumerated() {
                if index % 97 == 0 { sleepSeconds(0.001) }  // let the sender run ahead and the ring drain
                let ok = buffer.withUnsafeMutableBytes { raw -> Bool in
                    do {
                        try group[1].receive(into: UnsafeMutableRawBufferPointer(rebasing: raw[0..<size]), from: 0,
                                             tag: MessageTag(UInt64(index)), deadline: .after(seconds: 20))
                        return true
                    } catch { return false }
                }
                if !ok || !buffer[0..<size].elementsEqual((0..<size).map { UInt8(truncatingIfNeeded: $0 &+ index) }) { bad += 1 }
            }
            wrong.withLock { $0 = bad }
        }
        for (index, size) in sizes.enumerated() {
            let message = (0..<size).map { UInt8(truncatingIfNeeded: $0 &+ index) }
            try message.withUnsafeBytes { try group[0].send($0, to: 1, tag: MessageTag(UInt64(index)), deadline: .after(seconds: 20)) }
        }
        receiver.join()
        #expect(wrong.withLock { $0 } == 0)
    }

    func listSharedMemory() throws -> [String] {
        guard let directory = opendir("/dev/shm") else { return [] }
        defer { closedir(directory) }
        var names: [String] = []
        while let entry = readdir(directory) {
            let name = withUnsafePointer(to: entry.pointee.d_name) { $0.withMemoryRebound(to: CChar.self, capacity: 256) { String(cString: $0) } }
            if name.hasPrefix("swift-collectives-") { names.append(name) }
        }
        return names
    }
}

@Suite struct HandshakeTests {
    /// Strangers knock on rank 0's port while it waits for rank 1: one from another job, one that
    /// knows the job id but not the secret, one with no secret, one that sends random bytes and one
    /// that says nothing. Each is refused (and logged); the job connects.
    @Test func strangersAreRefusedAndTheJobGoesOn() throws {
        let listener = try Socket.listen(on: .loopback(port: 0))
        let listener1 = try Socket.listen(on: .loopback(port: 0))
        let addresses = [try listener.localAddress(), try listener1.localAddress()]
        var options = TCPOptions()
        options.secret = JobSecret("job secret")
        options.helloTimeoutSeconds = 1
        let settings = options
        let replies = Locked<[TCPHello.Status?]>([])
        let connected = Atomic<Int>(0)
        /// Follows the protocol as a stranger would, with its own job id and secret.
        @Sendable func knock(jobID: UInt64, secret: JobSecret) {
            guard let socket = try? Socket.connect(to: addresses[0], deadline: .after(seconds: 5)) else { return }
            connected.add(1, ordering: .relaxed)
            defer { socket.close() }
            let hello = TCPHello(jobID: jobID, rank: 1, worldSize: 2, receiver: 0).encoded()
            try? socket.sendAll(hello + JobSecret.challenge(), deadline: .after(seconds: 5))
            guard let challenge = try? socket.receive(count: 48, deadline: .after(seconds: 5)) else { return }
            try? socket.sendAll(secret.answer(Array(challenge.prefix(16)), context: TCPHello.connectorContext(hello)), deadline: .after(seconds: 5))
            let reply = try? socket.receive(count: TCPHello.replySize, deadline: .after(seconds: 5))
            replies.withLock { $0.append(reply.flatMap(TCPHello.decodeReply)) }
        }
        let strangers = [
            SystemThread(name: "other job") { knock(jobID: 999, secret: JobSecret("job secret")) },
            SystemThread(name: "wrong secret") { knock(jobID: 42, secret: JobSecret("guess")) },
            SystemThread(name: "no secret") { knock(jobID: 42, secret: .none) },
            SystemThread(name: "noise") {
                guard let socket = try? Socket.connect(to: addresses[0], deadline: .after(seconds: 5)) else { return }
                connected.add(1, ordering: .relaxed)
                try? socket.sendAll((0..<300).map { _ in UInt8.random(in: 0...255) }, deadline: .after(seconds: 5))
                socket.close()
            },
            SystemThread(name: "silent") {
                guard let socket = try? Socket.connect(to: addresses[0], deadline: .after(seconds: 5)) else { return }
                connected.add(1, ordering: .relaxed)
                sleepSeconds(2)
                socket.close()
            },
        ]
        let rank1 = SystemThread(name: "rank 1") {
            // The strangers come first: every one has connected, and the three that follow the
            // protocol have their answers (rank 0 stops listening once rank 1 is in, and drops
            // whatever is still half way through its handshake then).
            let deadline = Deadline.after(seconds: 20)
            while (connected.load(ordering: .relaxed) < 5 || replies.withLock({ $0.count }) < 3) && !deadline.hasPassed { sleepSeconds(0.001) }
            let t = try? TCPTransport.establish(rank: 1, worldSize: 2, jobID: 42, listener: listener1,
                                                peerAddresses: addresses, options: settings, deadline: .after(seconds: 20))
            t?.close()
        }
        let transport = try TCPTransport.establish(rank: 0, worldSize: 2, jobID: 42, listener: listener,
                                                   peerAddresses: addresses, options: settings, deadline: .after(seconds: 20))
        strangers.forEach { $0.join() }
        rank1.join()
        transport.close()
        listener.close()
        listener1.close()
        let got = replies.withLock { $0 }
        #expect(got.contains(.wrongJob), "\(got)")
        #expect(got.filter { $0 == .wrongSecret }.count == 2, "\(got)")
        #expect(!got.contains(.accepted), "\(got)")
    }

    @Test func aRankWithAnotherSecretCannotJoin() throws {
        let listeners = try (0..<2).map { _ in try Socket.listen(on: .loopback(port: 0)) }
        let addresses = try listeners.map { try $0.localAddress() }
        let outcome = Locked<TransportError?>(nil)
        let other = SystemThread(name: "rank 1") {
            var options = TCPOptions()
            options.secret = JobSecret("mine")
            do {
                _ = try TCPTransport.establish(rank: 1, worldSize: 2, jobID: 5, listener: listeners[1], peerAddresses: addresses,
                                               options: options, deadline: .after(seconds: 3))
            } catch let error as TransportError { outcome.withLock { $0 = error } } catch {}
        }
        var options = TCPOptions()
        options.secret = JobSecret("theirs")
        #expect(throws: TransportError.self) {
            _ = try TCPTransport.establish(rank: 0, worldSize: 2, jobID: 5, listener: listeners[0], peerAddresses: addresses,
                                           options: options, deadline: .after(seconds: 3))
        }
        other.join()
        listeners.forEach { $0.close() }
        let error = outcome.withLock { $0 }
        #expect(error?.description.contains("COLLECTIVES_JOB_SECRET") == true, "\(String(describing: error))")
    }

    /// The frame header and hello parsers against many random and mutated inputs: no trap, and
    /// anything accepted re-encodes to itself.
    @Test func fuzzedHellosAndFrameHeaders() {
        var generator = SystemRandomNumberGenerator()
        let good = TCPHello(jobID: 7, rank: 3, worldSize: 4, receiver: 1, stream: 1, streams: 2).encoded()
        for round in 0..<20_000 {
            var bytes = good
            if round % 2 == 0 {
                for _ in 0..<Int.random(in: 1...4, using: &generator) {
                    bytes[Int.random(in: 0..<bytes.count, using: &generator)] = UInt8.random(in: 0...255, using: &generator)
                }
            } else {
                bytes = (0..<Int.random(in: 0...64, using: &generator)).map { _ in UInt8.random(in: 0...255, using: &generator) }
            }
            if case .success(let hello) = TCPHello.decode(bytes) {
                #expect(hello.encoded() == bytes || bytes[7] & 0x7F == 0)  // a stream count of 0 reads as 1
                _ = hello.validate(jobID: 7, rank: 1, worldSize: 4, streams: 2)
            }
            _ = TCPHello.decodeReply(Array(bytes.prefix(8)))
            let header = bytes + [UInt8](repeating: 0, count: Swift.max(0, FrameHeader.size - bytes.count))
            header.withUnsafeBytes { raw in
                let decoded = FrameHeader.load(from: raw.baseAddress!)
                let back = UnsafeMutableRawPointer.allocate(byteCount: FrameHeader.size, alignment: 8)
                defer { back.deallocate() }
                decoded.store(to: back)
                #expect(memcmp(back, raw.baseAddress!, FrameHeader.size) == 0)
            }
        }
    }

    /// A live rank receives garbage frames from its peer's socket: absurd lengths and wrong tags
    /// fail the receive with a clear error, nothing is allocated for them, and the rank goes on.
    @Test func garbageFramesFailTheReceiveCleanly() throws {
        for length in [UInt64.max, 1 << 40, 3] {
            let pair = try connectedTCPPair()
            defer { pair.forEach { $0.close() } }
            var into = [UInt8](repeating: 0, count: 16)
            let sent = [UInt8](repeating: 9, count: 3)
            let sender = SystemThread(name: "sender") {
                sent.withUnsafeBytes { _ = try? pair[1].send($0, to: 0, tag: MessageTag(99, call: length, count: length), deadline: .after(seconds: 5)) }
            }
            let error = into.withUnsafeMutableBytes { raw in
                #expect(throws: TransportError.self) { try pair[0].receive(into: raw, from: 1, tag: 1, deadline: .after(seconds: 5)) }
            }
            sender.join()
            if case .mismatch = error?.kind {} else { Issue.record("\(String(describing: error))") }
        }
    }

    @Test func helloRoundTripsAndGarbageIsRejected() throws {
        let hello = TCPHello(jobID: 7, rank: 3, worldSize: 4, receiver: 1)
        #expect(try TCPHello.decode(hello.encoded()).get() == hello)
        #expect(hello.validate(jobID: 7, rank: 1, worldSize: 4) == .accepted)
        #expect(hello.validate(jobID: 8, rank: 1, worldSize: 4) == .wrongJob)
        #expect(hello.validate(jobID: 7, rank: 1, worldSize: 5) == .wrongWorldSize)
        #expect(hello.validate(jobID: 7, rank: 3, worldSize: 4) == .wrongRank)
        #expect(hello.validate(jobID: 7, rank: 1, worldSize: 4, streams: 2) == .wrongStreamCount)
        let striped = TCPHello(jobID: 7, rank: 3, worldSize: 4, receiver: 1, stream: 2, streams: 4)
        #expect(try TCPHello.decode(striped.encoded()).get() == striped)
        #expect(striped.validate(jobID: 7, rank: 1, worldSize: 4, streams: 4) == .accepted)
        var generator = SeededRandom(seed: TestSeed.make(for: "hello decoding"))
        for _ in 0..<1000 {
            let garbage = (0..<Int.random(in: 0...40, using: &generator)).map { _ in UInt8.random(in: 0...255, using: &generator) }
            if case .success = TCPHello.decode(garbage) { Issue.record("garbage decoded: \(garbage)") }
        }
    }
}
