import CollectivesSystem
import CollectivesTransport

extension Communicator {
    /// Splits this communicator into disjoint sub-communicators, as `MPI_Comm_split` does: the
    /// ranks that pass the same `color` form one, ranked by `key` (ties by their rank here). A
    /// rank that passes `nil` joins none and gets `nil`.
    ///
    /// A collective: every rank of this communicator calls it, in the same place of its sequence
    /// of calls. Each sub-communicator has its own connections, so sub-communicators run their
    /// collectives at the same time as each other and as this one (which stays usable), and their
    /// messages never mix. Close them when done; closing this communicator does not close them.
    ///
    /// ```swift
    /// // Two groups of ranks, by parity, each all-reducing on its own:
    /// let half = try communicator.split(color: communicator.rank % 2, key: communicator.rank)!
    /// try half.allReduce(&gradients)
    /// ```
    public func split(color: Int?, key: Int = 0) throws(CollectivesError) -> Communicator? {
        if let color, color < 0 {
            throw CollectivesError(.invalidArgument, rank: rank, operation: "split",
                                   reason: "color \(color) is negative (pass nil to join no group)")
        }
        return try queue.runHere { () throws(CollectivesError) -> Communicator? in
            try performSplit(color: color, key: key)
        }
    }

    private func performSplit(color: Int?, key: Int) throws(CollectivesError) -> Communicator? {
        let sequence = nextSequence()
        let operation = "split #\(sequence) (color \(color.map(String.init) ?? "none"), key \(key))"
        guard let capable = transport as? any SubgroupCapable, capable.canMakeSubgroups else {
            throw CollectivesError(.invalidArgument, rank: rank, operation: operation,
                                   reason: "the \(transport.name) transport cannot make sub-communicators")
        }
        let plan: SubgroupPlan
        do { plan = try capable.prepareSubgroup() } catch { throw failure(error, operation) }
        var keepPlan = false
        defer { if !keepPlan { plan.cancel() } }

        // Everyone's colour, key and endpoint.
        guard plan.endpoint.count <= SplitRecord.maximumEndpoint else {
            throw CollectivesError(.transport, rank: rank, operation: operation,
                                   reason: "endpoint of \(plan.endpoint.count) bytes is too long")
        }
        let all: [SplitRecord]
        do {
            all = try SetUpRecords.allGather(SplitRecord(color: color, key: key, endpoint: plan.endpoint).encoded(), over: transport,
                                             tag: CallDescriptor(.split, sequence: sequence).tag,
                                             deadline: operationDeadline()).map(SplitRecord.init(decoding:))
        } catch {
            throw failure(error, operation)
        }
        guard let color else { return nil }
        let members = (0..<worldSize).filter { all[$0].color == color }.sorted { (all[$0].key, $0) < (all[$1].key, $1) }
        guard let newRank = members.firstIndex(of: rank) else {
            throw CollectivesError(.mismatch, rank: rank, operation: operation, reason: "this rank's record was lost in the exchange")
        }
        keepPlan = true
        let child: any Transport
        do {
            child = try plan.connect(id: sequence << 20 ^ UInt64(color), rank: newRank, endpoints: members.map { all[$0].endpoint },
                                     deadline: operationDeadline())
        } catch {
            throw failure(error, operation)
        }
        logger.debug("rank \(rank): \(operation): rank \(newRank) of \(members.count) (ranks \(members) of the parent)")
        return Communicator(transport: child, options: options, bootstrapped: nil, hosts: members.map { hosts[$0] })
    }
}

/// One rank's contribution to a split: colour (or none), key and transport endpoint.
struct SplitRecord {
    static let maximumEndpoint = SetUpRecords.recordSize - 4 - 21

    var color: Int?
    var key: Int
    var endpoint: [UInt8]

    func encoded() -> [UInt8] {
        var writer = ByteWriter(capacity: 32 + endpoint.count)
        writer.write(UInt8(color == nil ? 0 : 1))
        writer.write(Int64(color ?? 0))
        writer.write(Int64(key))
        writer.writeBytes(endpoint)
        return writer.bytes
    }

    init(color: Int?, key: Int, endpoint: [UInt8]) {
        self.color = color
        self.key = key
        self.endpoint = endpoint
    }

    init(decoding bytes: [UInt8]) {
        var reader = ByteReader(bytes)
        let hasColor = reader.read(UInt8.self) == 1
        let color = Int(reader.read(Int64.self) ?? 0)
        key = Int(reader.read(Int64.self) ?? 0)
        endpoint = reader.readBytes(limit: Self.maximumEndpoint) ?? []
        self.color = hasColor ? color : nil
    }
}
