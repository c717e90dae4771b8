import CollectivesSystem

/// Every rank's few bytes, by rank, for the exchanges of set-up that happen before or beside a
/// communicator's numbered collectives (host identities, shared-memory names, outcomes, split
/// colours): each rank sends its record to every other and receives theirs. Records are fixed
/// at ``recordSize`` bytes on the wire (a 4-byte length, then up to 508 bytes). The tag is the
/// caller's: the layer that numbers messages owns it.
package enum SetUpRecords {
    package static let recordSize = 512

    package static func allGather(_ bytes: [UInt8], over transport: any Transport, tag: MessageTag,
                                  deadline: Deadline) throws(TransportError) -> [[UInt8]] {
        let n = transport.worldSize, rank = transport.rank
        guard bytes.count <= recordSize - 4 else {
            throw TransportError(.invalidArgument("a set-up record of \(bytes.count) bytes is too long"), rank: rank, peer: nil,
                                 operation: "set-up exchange")
        }
        let memory = UnsafeMutableRawBufferPointer.allocate(byteCount: recordSize * n, alignment: 8)
        defer { memory.deallocate() }
        memory.initializeMemory(as: UInt8.self, repeating: 0)
        let base = memory.baseAddress!
        let own = base + rank * recordSize
        own.storeBytes(of: UInt32(bytes.count).littleEndian, as: UInt32.self)
        if !bytes.isEmpty { bytes.withUnsafeBytes { (own + 4).copyMemory(from: $0.baseAddress!, byteCount: bytes.count) } }
        var requests: [TransportRequest] = []
        requests.reserveCapacity(2 * n)
        for peer in 0..<n where peer != rank {
            requests.append(try transport.postReceive(
                into: UnsafeMutableRawBufferPointer(start: base + peer * recordSize, count: recordSize), from: peer, tag: tag))
        }
        for peer in 0..<n where peer != rank {
            requests.append(try transport.postSend(UnsafeRawBufferPointer(start: own, count: recordSize), to: peer, tag: tag))
        }
        for request in requests { try transport.wait(request, deadline: deadline) }
        return (0..<n).map { peer in
            let record = base + peer * recordSize
            let length = Swift.min(Int(UInt32(littleEndian: record.loadUnaligned(as: UInt32.self))), recordSize - 4)
            return Array(UnsafeRawBufferPointer(start: record + 4, count: length))
        }
    }
}
