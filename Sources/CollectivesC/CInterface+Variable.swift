import CCollectivesAPI
import Collectives

/// The variable-count collectives of collectives.h (one count per rank, blocks one after the
/// other), blocking and started. Count arrays are read during the call, never later.
enum CVariable {
    /// The calling communicator's size, or the recorded error of a NULL handle.
    static func ranks(_ handle: OpaquePointer?, _ operation: String) -> Result<(ranks: Int, rank: Int), CHandleError> {
        CHandles.communicator(handle, operation).map { ($0.worldSize, $0.rank) }
    }

    static func allGather<T: CollectiveElement>(_: T.Type, _ call: CCall, _ buffers: CBuffers, _ counts: [Int]) throws(CollectivesError) {
        try call.communicator.allGatherVariable(UnsafeBufferPointer<T>(buffers.send, counts[call.communicator.rank]),
                                                into: UnsafeMutableBufferPointer<T>(buffers.receive, counts.reduce(0, +)), counts: counts)
    }

    static func gather<T: CollectiveElement>(_: T.Type, _ call: CCall, _ buffers: CBuffers, _ count: Int, _ counts: [Int], _ root: Int) throws(CollectivesError) {
        try call.communicator.gatherVariable(UnsafeBufferPointer<T>(buffers.send, count),
                                             into: UnsafeMutableBufferPointer<T>(counts.isEmpty ? nil : buffers.receive, counts.reduce(0, +)),
                                             counts: counts, root: root)
    }

    static func scatter<T: CollectiveElement>(_: T.Type, _ call: CCall, _ buffers: CBuffers, _ counts: [Int], _ count: Int, _ root: Int) throws(CollectivesError) {
        try call.communicator.scatterVariable(UnsafeBufferPointer<T>(counts.isEmpty ? nil : buffers.send, counts.reduce(0, +)), counts: counts,
                                              into: UnsafeMutableBufferPointer<T>(buffers.receive, count), root: root)
    }

    /// Counts read from C for a call: every rank's, or (`onlyOn` not this rank) none.
    static func read(_ pointer: UnsafePointer<Int>?, _ handle: OpaquePointer?, _ what: String, _ operation: String,
                     onlyOn root: Int? = nil) -> Result<[Int], CHandleError> {
        switch ranks(handle, operation) {
        case .failure(let error): return .failure(error)
        case .success(let group):
            if let root, root != group.rank { return .success([]) }
            return CPersonalized.counts(pointer, group.ranks, what, operation)
        }
    }
}

// MARK: All-gather

@_cdecl("collAllGatherv")
public func cAllGatherv(_ send: UnsafeRawPointer?, _ receive: UnsafeMutableRawPointer?, _ counts: UnsafePointer<Int>?,
                        _ dataType: collDataType_t, _ comm: OpaquePointer?) -> collResult_t {
    switch CVariable.read(counts, comm, "recvcounts", "collAllGatherv") {
    case .failure(let error): return error.result
    case .success(let counts):
        let buffers = CBuffers(send, receive)
        return CCall.run("collAllGatherv", comm, dataType) { (call) throws(CollectivesError) in
            try CVariable.allGather(call.element, call, buffers, counts)
        }
    }
}

@_cdecl("collIAllGatherv")
public func cIAllGatherv(_ send: UnsafeRawPointer?, _ receive: UnsafeMutableRawPointer?, _ counts: UnsafePointer<Int>?,
                         _ dataType: collDataType_t, _ comm: OpaquePointer?, _ request: UnsafeMutablePointer<OpaquePointer?>?) -> collResult_t {
    switch CVariable.read(counts, comm, "recvcounts", "collIAllGatherv") {
    case .failure(let error): return error.result
    case .success(let counts):
        let buffers = CBuffers(send, receive)
        return CCall.start("collIAllGatherv", comm, dataType, request: request) { (call) throws(CollectivesError) in
            try CVariable.allGather(call.element, call, buffers, counts)
        }
    }
}

// MARK: Gather

@_cdecl("collGatherv")
public func cGatherv(_ send: UnsafeRawPointer?, _ count: Int, _ receive: UnsafeMutableRawPointer?, _ counts: UnsafePointer<Int>?,
                     _ dataType: collDataType_t, _ root: Int32, _ comm: OpaquePointer?) -> collResult_t {
    if let bad = checkedCount(count, "collGatherv") { return bad }
    switch CVariable.read(counts, comm, "recvcounts", "collGatherv", onlyOn: Int(root)) {
    case .failure(let error): return error.result
    case .success(let counts):
        let buffers = CBuffers(send, receive)
        return CCall.run("collGatherv", comm, dataType) { (call) throws(CollectivesError) in
            try CVariable.gather(call.element, call, buffers, count, counts, Int(root))
        }
    }
}

@_cdecl("collIGatherv")
public func cIGatherv(_ send: UnsafeRawPointer?, _ count: Int, _ receive: UnsafeMutableRawPointer?, _ counts: UnsafePointer<Int>?,
                      _ dataType: collDataType_t, _ root: Int32, _ comm: OpaquePointer?, _ request: UnsafeMutablePointer<OpaquePointer?>?) -> collResult_t {
    switch CVariable.read(counts, comm, "recvcounts", "collIGatherv", onlyOn: Int(root)) {
    case .failure(let error): return error.result
    case .success(let counts):
        let buffers = CBuffers(send, receive)
        return CCall.start("collIGatherv", comm, dataType, request: request, counts: [count]) { (call) throws(CollectivesError) in
            try CVariable.gather(call.element, call, buffers, count, counts, Int(root))
        }
    }
}

// MARK: Scatter

@_cdecl("collScatterv")
public func cScatterv(_ send: UnsafeRawPointer?, _ counts: UnsafePointer<Int>?, _ receive: UnsafeMutableRawPointer?, _ count: Int,
                      _ dataType: collDataType_t, _ root: Int32, _ comm: OpaquePointer?) -> collResult_t {
    if let bad = checkedCount(count, "collScatterv") { return bad }
    switch CVariable.read(counts, comm, "sendcounts", "collScatterv", onlyOn: Int(root)) {
    case .failure(let error): return error.result
    case .success(let counts):
        let buffers = CBuffers(send, receive)
        return CCall.run("collScatterv", comm, dataType) { (call) throws(CollectivesError) in
            try CVariable.scatter(call.element, call, buffers, counts, count, Int(root))
        }
    }
}

@_cdecl("collIScatterv")
public func cIScatterv(_ send: UnsafeRawPointer?, _ counts: UnsafePointer<Int>?, _ receive: UnsafeMutableRawPointer?, _ count: Int,
                       _ dataType: collDataType_t, _ root: Int32, _ comm: OpaquePointer?, _ request: UnsafeMutablePointer<OpaquePointer?>?) -> collResult_t {
    switch CVariable.read(counts, comm, "sendcounts", "collIScatterv", onlyOn: Int(root)) {
    case .failure(let error): return error.result
    case .success(let counts):
        let buffers = CBuffers(send, receive)
        return CCall.start("collIScatterv", comm, dataType, request: request, counts: [count]) { (call) throws(CollectivesError) in
            try CVariable.scatter(call.element, call, buffers, counts, count, Int(root))
        }
    }
}

// MARK: All-to-all

@_cdecl("collIAllToAllv")
public func cIAllToAllv(_ send: UnsafeRawPointer?, _ sendCounts: UnsafePointer<Int>?, _ receive: UnsafeMutableRawPointer?,
                        _ receiveCounts: UnsafePointer<Int>?, _ dataType: collDataType_t, _ comm: OpaquePointer?,
                        _ request: UnsafeMutablePointer<OpaquePointer?>?) -> collResult_t {
    let outgoing: [Int], incoming: [Int]
    switch CVariable.read(sendCounts, comm, "sendcounts", "collIAllToAllv") {
    case .failure(let error): return error.result
    case .success(let counts): outgoing = counts
    }
    switch CVariable.read(receiveCounts, comm, "recvcounts", "collIAllToAllv") {
    case .failure(let error): return error.result
    case .success(let counts): incoming = counts
    }
    let buffers = CBuffers(send, receive)
    return CCall.start("collIAllToAllv", comm, dataType, request: request) { (call) throws(CollectivesError) in
        try CPersonalized.allToAllVariable(call.element, call, buffers.send, outgoing, buffers.receive, incoming)
    }
}
