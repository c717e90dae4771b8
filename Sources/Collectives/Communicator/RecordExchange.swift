import CollectivesSystem
import CollectivesTransport

/// Every rank's few bytes, by rank: an all-gather of fixed-size records over a transport, for
/// set-up exchanges (locality, shared-memory names, split colours) that happen before or beside
/// the communicator's numbered collectives.
enum RecordExchange {
    /// Records are this size on the wire: a 4-byte length and up to 508 bytes.
    static let recordSize = 512

    static func allGather(_ bytes: [UInt8], transport: any Transport, tag: MessageTag, deadline: Deadline,
                          workspace: Workspace) throws(TransportError) -> [[UInt8]] {
        let n = transport.worldSize
        guard bytes.count <= recordSize - 4 else {
            throw TransportError(.invalidArgument("a set-up record of \(bytes.count) bytes is too long"), rank: transport.rank, peer: nil, operation: "set-up exchange")
        }
        let memory = UnsafeMutableRawBufferPointer.allocate(byteCount: recordSize * n, alignment: 8)
        defer { memory.deallocate() }
        memory.initializeMemory(as: UInt8.self, repeating: 0)
        let own = memory.baseAddress! + transport.rank * recordSize
        own.storeBytes(of: UInt32(bytes.count).littleEndian, as: UInt32.self)
        if !bytes.isEmpty { bytes.withUnsafeBytes { (own + 4).copyMemory(from: $0.baseAddress!, byteCount: bytes.count) } }
        let exchange = Exchange(transport: transport, tag: tag, deadline: deadline, workspace: workspace,
                                segmentBytes: 1 << 20, window: 4)
        try Ring.run(.allGather, buffer: memory.baseAddress, count: memory.count, elementSize: 1, kernel: nil, exchange: exchange)
        return (0..<n).map { peer in
            let record = memory.baseAddress! + peer * recordSize
            let length = Swift.min(Int(UInt32(littleEndian: record.loadUnaligned(as: UInt32.self))), recordSize - 4)
            return Array(UnsafeRawBufferPointer(start: record + 4, count: length))
        }
    }
}
