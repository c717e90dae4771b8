import FoundationEssentials

/// Collectives of values rather than numbers (torch.distributed's `broadcast_object_list`,
/// `all_gather_object`…): configurations, metadata, uneven shard sizes. Values are encoded as
/// JSON (`JSONEncoder`), sent as bytes of variable size, and decoded on arrival; a value that
/// cannot be encoded, or bytes that do not decode as the type asked for (ranks that called with
/// different types), are errors naming the rank that sent them.
extension Communicator {
    /// Returns the root's `object` on every rank (`object` is read on the root only, but every
    /// rank passes one of the same type).
    public func broadcast<C: Codable & Sendable>(object: C, root: Int) throws(CollectivesError) -> C {
        try checkRoot(root, operation: "object broadcast")
        return try queue.runHere { () throws(CollectivesError) in
            // A value the root cannot encode is announced as size -1, so that no rank waits.
            var failure: CollectivesError?
            var bytes: [UInt8] = []
            if rank == root {
                do throws(CollectivesError) { bytes = try encoded(object, operation: "object broadcast") } catch { failure = error }
            }
            var size = [failure == nil ? Int64(bytes.count) : -1]
            try broadcast(&size, root: root)
            if let failure { throw failure }
            guard size[0] >= 0 else {
                throw CollectivesError(.invalidArgument, rank: rank, operation: "object broadcast", peer: root,
                                       reason: "the root, rank \(root), could not encode its value (its own error says why)")
            }
            if rank != root { bytes = [UInt8](repeating: 0, count: Int(size[0])) }
            try broadcast(&bytes, root: root)
            return rank == root ? object : try decoded(C.self, bytes, from: root, operation: "object broadcast")
        }
    }

    /// Returns every rank's `object`, by rank.
    public func allGather<C: Codable & Sendable>(object: C) throws(CollectivesError) -> [C] {
        let all = try allGatherVariable(try encoded(object, operation: "object all-gather"))
        var objects: [C] = []
        for (peer, bytes) in all.enumerated() {
            objects.append(try decoded(C.self, bytes, from: peer, operation: "object all-gather"))
        }
        return objects
    }

    /// Returns, on the root, every rank's `object` by rank; elsewhere `[]`.
    public func gather<C: Codable & Sendable>(object: C, root: Int) throws(CollectivesError) -> [C] {
        let all = try gatherVariable(try encoded(object, operation: "object gather"), root: root)
        var objects: [C] = []
        for (peer, bytes) in all.enumerated() {
            objects.append(try decoded(C.self, bytes, from: peer, operation: "object gather"))
        }
        return objects
    }

    /// Returns this rank's element of the root's `objects` (one per rank; read on the root only,
    /// pass `[]` elsewhere).
    public func scatter<C: Codable & Sendable>(objects: [C], root: Int) throws(CollectivesError) -> C {
        try checkRoot(root, operation: "object scatter")
        var arrays: [[UInt8]] = []
        var failure: CollectivesError?
        if rank == root {
            if objects.count != worldSize {
                failure = CollectivesError(.invalidArgument, rank: rank, operation: "object scatter",
                                           reason: "the root passes \(objects.count) objects for \(worldSize) ranks")
            } else {
                do throws(CollectivesError) {
                    for object in objects { arrays.append(try encoded(object, operation: "object scatter")) }
                } catch {
                    failure = error
                }
            }
        }
        let mine = try scatterVariable(arrays, root: root, rootFailure: failure)
        return try decoded(C.self, mine, from: root, operation: "object scatter")
    }

    private func encoded<C: Encodable>(_ object: C, operation: String) throws(CollectivesError) -> [UInt8] {
        do {
            return [UInt8](try JSONEncoder().encode(object))
        } catch {
            throw CollectivesError(.invalidArgument, rank: rank, operation: operation,
                                   reason: "cannot encode the \(C.self) value: \(error)")
        }
    }

    private func decoded<C: Decodable>(_: C.Type, _ bytes: [UInt8], from peer: Int, operation: String) throws(CollectivesError) -> C {
        do {
            return try JSONDecoder().decode(C.self, from: Data(bytes))
        } catch {
            throw CollectivesError(.mismatch, rank: rank, operation: operation, peer: peer,
                                   reason: "the \(bytes.count) bytes from rank \(peer) are not a \(C.self) value (did every rank pass the same type?): \(error)")
        }
    }
}
