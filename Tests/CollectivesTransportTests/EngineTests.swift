import CollectivesSystem
import CollectivesTestSupport
import CollectivesTransport
import Testing

/// The engine over two media (a job spanning hosts, ``RoutedTransport``): one ledger for both,
/// errors in the group's rank numbers whatever the medium numbers its ranks, and a failure of
/// either that fails both. Three ranks on two emulated hosts, ranks 0 and 2 on one: their pair
/// is shared memory, where they are ranks 0 and 1; rank 1 is across, over TCP.
@Suite(.serialized) struct EngineTests {
    static func group() throws -> [any Transport] {
        try TestGroups.routed(worldSize: 3, hostOf: { $0 == 1 ? 1 : 0 })
    }

    @Test func aMismatchOnSharedMemoryNamesTheGroupsRanks() throws {
        let group = try Self.group()
        defer { group.forEach { $0.close() } }
        #expect((group[0] as? RoutedTransport)?.isShared(2) == true)
        let sender = SystemThread(name: "rank 2") {
            withUnsafeBytes(of: UInt64(7)) { bytes in
                _ = try? group[2].send(bytes, to: 0, tag: 8, deadline: .after(seconds: 5))
            }
        }
        var received = UInt64(0)
        let error = withUnsafeMutableBytes(of: &received) { buffer -> TransportError? in
            do {
                try group[0].receive(into: buffer, from: 2, tag: 7, deadline: .after(seconds: 5))
                return nil
            } catch { return error as? TransportError }
        }
        sender.join()
        let mismatch = try #require(error?.mismatch, "\(String(describing: error))")
        #expect(mismatch.sender == 2 && mismatch.receiver == 0, "\(mismatch)")
        #expect(error?.rank == 0)
        #expect(received == 0)
    }

    @Test func aTimeoutOnSharedMemoryNamesTheGroupsPeerAndFailsTheOtherMediumToo() throws {
        let group = try Self.group()
        defer { group.forEach { $0.close() } }
        var fromShared = UInt64(0), fromAcross = UInt64(0)
        try withUnsafeMutableBytes(of: &fromShared) { shared in
            try withUnsafeMutableBytes(of: &fromAcross) { across in
                let acrossRequest = try group[0].postReceive(into: across, from: 1, tag: 3)
                let sharedRequest = try group[0].postReceive(into: shared, from: 2, tag: 3)
                let timeout = #expect(throws: TransportError.self) {
                    try group[0].wait(sharedRequest, deadline: .after(seconds: 0.2))
                }
                #expect(timeout?.kind == .timedOut)
                #expect(timeout?.peer == 2, "\(String(describing: timeout))")
                #expect(timeout?.peerAddress?.hasPrefix("pid ") == true, "\(String(describing: timeout))")
                // The TCP receive failed with it: the engine failed, not one medium.
                let same = #expect(throws: TransportError.self) {
                    try group[0].wait(acrossRequest, deadline: .after(seconds: 5))
                }
                #expect(same?.description == timeout?.description)
                let later = #expect(throws: TransportError.self) {
                    _ = try group[0].postSend(UnsafeRawBufferPointer(across), to: 1, tag: 4)
                }
                #expect(later?.description == timeout?.description)
            }
        }
    }

    @Test func requestsOnBothMediaShareOneHandleSpace() throws {
        let group = try Self.group()
        defer { group.forEach { $0.close() } }
        let values: [UInt64] = [0x1111, 0x2222]
        let senders = [1, 2].map { peer in
            SystemThread(name: "rank \(peer)") {
                withUnsafeBytes(of: values[peer - 1]) { bytes in
                    _ = try? group[peer].send(bytes, to: 0, tag: 5, deadline: .after(seconds: 5))
                }
            }
        }
        var received: [UInt64] = [0, 0]
        try received.withUnsafeMutableBytes { buffer in
            let requests = try [1, 2].map { peer in
                try group[0].postReceive(into: UnsafeMutableRawBufferPointer(rebasing: buffer[(peer - 1) * 8..<peer * 8]), from: peer, tag: 5)
            }
            #expect(Set(requests).count == 2)
            // Waited in the opposite order: each handle names its own request on its own medium.
            for request in requests.reversed() { try group[0].wait(request, deadline: .after(seconds: 5)) }
        }
        senders.forEach { $0.join() }
        #expect(received == values)
    }

    @Test func aMediumOfTheEngineRefusesPostsOfItsOwn() throws {
        let group = try Self.group()
        defer { group.forEach { $0.close() } }
        let routed = try #require(group[0] as? RoutedTransport)
        let bytes = [UInt8](repeating: 1, count: 8)
        for medium in [routed.tcp! as any Transport, routed.sharedMemory] {
            let refused = bytes.withUnsafeBytes { raw in
                #expect(throws: TransportError.self) { _ = try medium.postSend(raw, to: 1, tag: 9) }
            }
            guard case .invalidArgument = refused?.kind else {
                Issue.record("\(medium.name): \(String(describing: refused))")
                continue
            }
        }
    }
}
