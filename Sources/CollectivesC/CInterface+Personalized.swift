import CCollectivesAPI
import Collectives

/// Gather, scatter and the variable all-to-all of collectives.h: the personalized collectives,
/// where each rank's block is its own.
enum CPersonalized {
    static func gather<T: CollectiveElement>(_: T.Type, _ call: CCall, _ send: UnsafeRawPointer?, _ receive: UnsafeMutableRawPointer?,
                                             _ count: Int, _ root: Int) throws(CollectivesError) {
        let communicator = call.communicator
        let whole = communicator.rank == root ? count * communicator.worldSize : 0
        try communicator.gather(UnsafeBufferPointer<T>(send, count), into: UnsafeMutableBufferPointer<T>(whole == 0 ? nil : receive, whole), root: root)
    }

    static func scatter<T: CollectiveElement>(_: T.Type, _ call: CCall, _ send: UnsafeRawPointer?, _ receive: UnsafeMutableRawPointer?,
                                              _ count: Int, _ root: Int) throws(CollectivesError) {
        let communicator = call.communicator
        let whole = communicator.rank == root ? count * communicator.worldSize : 0
        try communicator.scatter(UnsafeBufferPointer<T>(whole == 0 ? nil : send, whole), into: UnsafeMutableBufferPointer<T>(receive, count), root: root)
    }

    static func allToAllVariable<T: CollectiveElement>(_: T.Type, _ call: CCall, _ send: UnsafeRawPointer?, _ sendCounts: [Int],
                                                       _ receive: UnsafeMutableRawPointer?, _ receiveCounts: [Int]) throws(CollectivesError) {
        try call.communicator.allToAllVariable(UnsafeBufferPointer<T>(send, sendCounts.reduce(0, +)), sendCounts: sendCounts,
                                               into: UnsafeMutableBufferPointer<T>(receive, receiveCounts.reduce(0, +)), receiveCounts: receiveCounts)
    }

    /// The communicator's size of counts read from C, or nil (with the error recorded) when a
    /// pointer is NULL or a count too large.
    static func counts(_ pointer: UnsafePointer<Int>?, _ ranks: Int, _ what: String, _ operation: String) -> Result<[Int], CHandleError> {
        guard let pointer else { return .failure(CHandleError(result: CResults.invalid(operation, "\(what) is NULL"))) }
        let counts = Array(UnsafeBufferPointer(start: pointer, count: ranks))
        if let bad = counts.first(where: { $0 < 0 }) {
            return .failure(CHandleError(result: CResults.invalid(operation, "a count in \(what), \(UInt(bitPattern: bad)), is too large")))
        }
        guard counts.reduce(0, { $0.addingReportingOverflow($1).overflow ? Int.max : $0 + $1 }) < Int.max else {
            return .failure(CHandleError(result: CResults.invalid(operation, "the counts in \(what) add up to more than memory")))
        }
        return .success(counts)
    }
}

@_cdecl("collGather")
public func cGather(_ send: UnsafeRawPointer?, _ receive: UnsafeMutableRawPointer?, _ count: Int, _ dataType: collDataType_t,
                    _ root: Int32, _ comm: OpaquePointer?) -> collResult_t {
    if let bad = checkedCount(count, "collGather") { return bad }
    return CCall.run("collGather", comm, dataType) { (call) throws(CollectivesError) in
        try CPersonalized.gather(call.element, call, send, receive, count, Int(root))
    }
}

@_cdecl("collScatter")
public func cScatter(_ send: UnsafeRawPointer?, _ receive: UnsafeMutableRawPointer?, _ count: Int, _ dataType: collDataType_t,
                     _ root: Int32, _ comm: OpaquePointer?) -> collResult_t {
    if let bad = checkedCount(count, "collScatter") { return bad }
    return CCall.run("collScatter", comm, dataType) { (call) throws(CollectivesError) in
        try CPersonalized.scatter(call.element, call, send, receive, count, Int(root))
    }
}

@_cdecl("collAllToAllv")
public func cAllToAllv(_ send: UnsafeRawPointer?, _ sendCounts: UnsafePointer<Int>?, _ receive: UnsafeMutableRawPointer?,
                       _ receiveCounts: UnsafePointer<Int>?, _ dataType: collDataType_t, _ comm: OpaquePointer?) -> collResult_t {
    let outgoing: [Int], incoming: [Int]
    switch CVariable.read(sendCounts, comm, "sendcounts", "collAllToAllv") {
    case .failure(let error): return error.result
    case .success(let counts): outgoing = counts
    }
    switch CVariable.read(receiveCounts, comm, "recvcounts", "collAllToAllv") {
    case .failure(let error): return error.result
    case .success(let counts): incoming = counts
    }
    return CCall.run("collAllToAllv", comm, dataType) { (call) throws(CollectivesError) in
        try CPersonalized.allToAllVariable(call.element, call, send, outgoing, receive, incoming)
    }
}
