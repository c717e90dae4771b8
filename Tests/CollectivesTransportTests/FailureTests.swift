#if canImport(Glibc)
import Glibc
#endif
import CollectivesSystem
import CollectivesTestSupport
import CollectivesTransport
import Synchronization
import Testing

/// What a transport promises once something went wrong (docs/errors.md): a timed-out, closed or
/// mismatched receive never writes into the caller's buffer afterwards, later posts fail with
/// the original error, and a deadline of never waits as long as it takes. Checked on every
/// transport of the conformance suite.
///
/// After a failure, rank 0 keeps its progress engine moving (``TransportProbe/progressOnce()``,
/// as a wait on other traffic would) while rank 1's late data comes: a receive left queued would
/// take that data into the sentinel. A wake-up is tested only once the waiter is parked
/// (``TransportProbe/parkedWaiters``).
@Suite(.serialized) struct TransportFailureTests {
    /// A buffer of `count` bytes, each `fill`, that outlives the test's transports.
    final class Sentinel: @unchecked Sendable {
        let memory: UnsafeMutableRawBufferPointer
        let fill: UInt8
        init(_ count: Int, fill: UInt8 = 0xAB) {
            memory = .allocate(byteCount: count, alignment: 64)
            memory.initializeMemory(as: UInt8.self, repeating: fill)
            self.fill = fill
        }
        deinit { memory.deallocate() }
        /// Bytes that are no longer the fill.
        var touched: Int { memory.reduce(0) { $0 + ($1 == fill ? 0 : 1) } }
    }

    /// Sends `count` bytes of 0x11 to rank 0 from rank 1, as a late peer would, and reports how
    /// the send ended (it may fail: the receiver is gone by then).
    func sendLate(_ pair: [any Transport], count: Int, tag: MessageTag) -> String {
        let out = [UInt8](repeating: 0x11, count: count)
        return out.withUnsafeBytes { raw in
            do {
                try pair[1].send(raw, to: 0, tag: tag, deadline: .after(seconds: 0.5))
                return "sent"
            } catch {
                return "\(error)"
            }
        }
    }

    /// Sends rank 1's late data (as ``sendLate(_:count:tag:)``) while rank 0's engine keeps moving.
    func sendLateWhileRankZeroProgresses(_ pair: [any Transport], count: Int, tag: MessageTag) -> String {
        let engine = pair[0] as! any TransportProbe
        return whileStepping({ _ = engine.progressOnce() }) { self.sendLate(pair, count: count, tag: tag) }
    }

    /// Waits until rank 0 has a thread parked in its wait loop.
    func awaitRankZeroParked(_ pair: [any Transport]) {
        let engine = pair[0] as! any TransportProbe
        #expect(awaitParked { engine.parkedWaiters }, "\(pair[0].name): no waiter parked within 20 s")
    }

    @Test func aTimedOutReceiveIsDroppedAndLaterPostsFailWithTheTimeout() throws {
        for (name, pair) in try TransportConformanceTests.pairs() {
            defer { pair.forEach { $0.close() } }
            // Large enough to need many ring passes or socket reads.
            let sentinel = Sentinel(1 << 20)
            let request = try pair[0].postReceive(into: sentinel.memory, from: 1, tag: 3)
            let error = #expect(throws: TransportError.self) { try pair[0].wait(request, deadline: .after(seconds: 0.2)) }
            #expect(error?.kind == .timedOut, "\(name): \(String(describing: error))")
            if name != "in-process" {
                #expect(error?.peer == 1, "\(name): the timeout names no peer: \(String(describing: error))")
                #expect(error?.peerAddress != nil, "\(name): the timeout names no address: \(String(describing: error))")
            }
            // The peer's data comes after the caller has given up on the buffer.
            let outcome = sendLateWhileRankZeroProgresses(pair, count: 1 << 20, tag: 3)
            #expect(sentinel.touched == 0, "\(name): \(sentinel.touched) bytes written after the timeout (late send: \(outcome))")
            // Everything later fails at once with the original error.
            let later = #expect(throws: TransportError.self) {
                _ = try pair[0].postReceive(into: sentinel.memory, from: 1, tag: 4)
            }
            if name != "in-process" {
                #expect(later?.description == error?.description, "\(name): \(String(describing: later)) after \(String(describing: error))")
            }
            #expect(sentinel.touched == 0, "\(name)")
        }
    }

    @Test func aWrongHeaderLeavesTheBufferUntouched() throws {
        // A wrong tag with the right length (whose payload would otherwise fit), then a wrong
        // length, each on a fresh pair.
        for (sentTag, sentBytes) in [(MessageTag(6, call: 9, count: 4096), 4096), (MessageTag(5), 4000)] {
            for (name, pair) in try TransportConformanceTests.pairs() {
                defer { pair.forEach { $0.close() } }
                let sentinel = Sentinel(4096)
                let sender = SystemThread(name: "sender") { _ = self.sendLate(pair, count: sentBytes, tag: sentTag) }
                let error = #expect(throws: TransportError.self) {
                    try pair[0].receive(into: sentinel.memory, from: 1, tag: 5, deadline: .after(seconds: 5))
                }
                sender.join()
                if case .mismatch = error?.kind {} else { Issue.record("\(name): \(String(describing: error))") }
                #expect(sentinel.touched == 0, "\(name): \(sentinel.touched) bytes of a mismatched message reached the buffer")
            }
        }
    }

    @Test func aDeadlineOfNeverWaitsAsLongAsItTakes() throws {
        for (name, pair) in try TransportConformanceTests.pairs() {
            defer { pair.forEach { $0.close() } }
            let sentinel = Sentinel(100_003, fill: 0)
            let sender = SystemThread(name: "sender") {
                self.awaitRankZeroParked(pair)
                _ = self.sendLate(pair, count: 100_003, tag: 8)
            }
            do {
                try pair[0].receive(into: sentinel.memory, from: 1, tag: 8, deadline: .never)
            } catch {
                Issue.record("\(name): \(error)")
            }
            sender.join()
            #expect(sentinel.memory.allSatisfy { $0 == 0x11 }, "\(name)")
        }
    }

    @Test func closeDropsQueuedReceives() throws {
        for (name, pair) in try TransportConformanceTests.pairs() {
            defer { pair[1].close() }
            let sentinel = Sentinel(64 << 10)
            let request = try pair[0].postReceive(into: sentinel.memory, from: 1, tag: 2)
            pair[0].close()
            let error = #expect(throws: TransportError.self) { try pair[0].wait(request, deadline: .after(seconds: 5)) }
            #expect(error?.kind == .closed, "\(name): \(String(describing: error))")
            let outcome = sendLateWhileRankZeroProgresses(pair, count: 64 << 10, tag: 2)
            #expect(sentinel.touched == 0, "\(name): written after close (late send: \(outcome))")
        }
    }

    @Test func failWakesWaitersWithTheErrorGiven() throws {
        for (name, pair) in try TransportConformanceTests.pairs() where name != "in-process" {
            defer { pair.forEach { $0.close() } }
            let sentinel = Sentinel(256)
            let request = try pair[0].postReceive(into: sentinel.memory, from: 1, tag: 1)
            let given = TransportError(.protocolViolation("failed by the test"), rank: 0, peer: nil, operation: "test")
            let failer = SystemThread(name: "failer") {
                self.awaitRankZeroParked(pair)
                pair[0].fail(given)
            }
            let error = #expect(throws: TransportError.self) { try pair[0].wait(request, deadline: .after(seconds: 10)) }
            failer.join()
            #expect(error?.description == given.description, "\(name): \(String(describing: error))")
            #expect(sentinel.touched == 0, "\(name)")
        }
    }

    /// A single-copy receive whose sender died while its payload was read by pid: the pid may
    /// name another process by then, so what was read is not trusted. The receiver here judges the sender by an exited process's pidfd while reading
    /// by the sender's pid, which still names a live process: the receive must fail.
    @Test func aSingleCopyReadFromADeadSendersPidIsRefused() throws {
        let pair = try sharedMemoryGroup(singleCopyBytes: 128 << 10)
        defer { pair.forEach { $0.close() } }
        let exited = try ExitedProcess()
        defer { exited.reap() }
        let payload = [UInt8](repeating: 0x5A, count: 1 << 20)
        let request = try payload.withUnsafeBytes { try pair[1].postSend($0, to: 0, tag: 4) }
        // Posting put the descriptor in rank 0's ring, so rank 0's first pass reads the payload
        // (the liveness check after 100 ms of waiting is not what finds the death).
        pair[0].simulatePIDReuse(peer: 1, exitedProcess: exited.pid)
        let sentinel = Sentinel(1 << 20)
        let error = #expect(throws: TransportError.self) {
            try pair[0].receive(into: sentinel.memory, from: 1, tag: 4, deadline: .after(seconds: 10))
        }
        #expect(error?.kind == .peerGone, "\(String(describing: error))")
        #expect(error?.peer == 1 && error?.operation == "receive", "\(String(describing: error))")
        pair[0].close()
        #expect(throws: TransportError.self) { try pair[1].wait(request, deadline: .after(seconds: 10)) }
        withExtendedLifetime(payload) {}
    }
}
