import CCollectivesAPI
import Collectives

/// The collectives of collectives.h on raw buffers: each checks its arguments, opens the
/// element type and calls the Swift API's typed form (in place where the buffers say so, as
/// NCCL's calls do).
enum CCollectives {
    static func allReduce<T: CollectiveElement>(_: T.Type, _ call: CCall, _ send: UnsafeRawPointer?, _ receive: UnsafeMutableRawPointer?,
                                                _ count: Int) throws(CollectivesError) {
        let output = UnsafeMutableBufferPointer<T>(receive, count)
        if send == UnsafeRawPointer(receive) {
            try call.communicator.allReduce(output, op: call.op)
        } else {
            try call.communicator.allReduce(UnsafeBufferPointer<T>(send, count), into: output, op: call.op)
        }
    }

    static func broadcast<T: CollectiveElement>(_: T.Type, _ call: CCall, _ send: UnsafeRawPointer?, _ receive: UnsafeMutableRawPointer?,
                                                _ count: Int, _ root: Int) throws(CollectivesError) {
        let communicator = call.communicator
        if communicator.rank == root, let send, let receive, send != UnsafeRawPointer(receive) {
            receive.copyMemory(from: send, byteCount: count * MemoryLayout<T>.stride)
        }
        try communicator.broadcast(UnsafeMutableBufferPointer<T>(receive, count), root: root)
    }

    static func reduce<T: CollectiveElement>(_: T.Type, _ call: CCall, _ send: UnsafeRawPointer?, _ receive: UnsafeMutableRawPointer?,
                                             _ count: Int, _ root: Int) throws(CollectivesError) {
        let communicator = call.communicator
        if communicator.rank == root, let receive, send == UnsafeRawPointer(receive) {
            try communicator.reduce(UnsafeMutableBufferPointer<T>(receive, count), op: call.op, root: root)
            return
        }
        let output = UnsafeMutableBufferPointer<T>(communicator.rank == root ? receive : nil, communicator.rank == root ? count : 0)
        try communicator.reduce(UnsafeBufferPointer<T>(send, count), into: output, op: call.op, root: root)
    }

    static func allGather<T: CollectiveElement>(_: T.Type, _ call: CCall, _ send: UnsafeRawPointer?, _ receive: UnsafeMutableRawPointer?,
                                                _ count: Int) throws(CollectivesError) {
        let communicator = call.communicator
        let whole = UnsafeMutableBufferPointer<T>(receive, count * communicator.worldSize)
        if let receive, send == UnsafeRawPointer(receive + communicator.rank * count * MemoryLayout<T>.stride) {
            try communicator.allGather(inPlace: whole)
        } else {
            try communicator.allGather(UnsafeBufferPointer<T>(send, count), into: whole)
        }
    }

    static func reduceScatter<T: CollectiveElement>(_: T.Type, _ call: CCall, _ send: UnsafeRawPointer?, _ receive: UnsafeMutableRawPointer?,
                                                    _ count: Int) throws(CollectivesError) {
        let communicator = call.communicator
        if let send, UnsafeRawPointer(receive) == send + communicator.rank * count * MemoryLayout<T>.stride {
            try communicator.reduceScatter(inPlace: UnsafeMutableBufferPointer<T>(UnsafeMutableRawPointer(mutating: send), count * communicator.worldSize),
                                           op: call.op)
        } else {
            try communicator.reduceScatter(UnsafeBufferPointer<T>(send, count * communicator.worldSize),
                                           into: UnsafeMutableBufferPointer<T>(receive, count), op: call.op)
        }
    }

    static func allToAll<T: CollectiveElement>(_: T.Type, _ call: CCall, _ send: UnsafeRawPointer?, _ receive: UnsafeMutableRawPointer?,
                                               _ count: Int) throws(CollectivesError) {
        let communicator = call.communicator
        let output = UnsafeMutableBufferPointer<T>(receive, count * communicator.worldSize)
        if send == UnsafeRawPointer(receive) {
            try communicator.allToAll(inPlace: output)
        } else {
            try communicator.allToAll(UnsafeBufferPointer<T>(send, count * communicator.worldSize), into: output)
        }
    }

    static func send<T: CollectiveElement>(_: T.Type, _ call: CCall, _ buffer: UnsafeRawPointer?, _ count: Int, _ peer: Int,
                                           _ tag: Int) throws(CollectivesError) {
        try call.communicator.send(UnsafeBufferPointer<T>(buffer, count), to: peer, tag: tag)
    }

    static func receive<T: CollectiveElement>(_: T.Type, _ call: CCall, _ buffer: UnsafeMutableRawPointer?, _ count: Int, _ peer: Int,
                                              _ tag: Int) throws(CollectivesError) {
        try call.communicator.receive(into: UnsafeMutableBufferPointer<T>(buffer, count), from: peer, tag: tag)
    }
}

/// Checks that a count from C (a `size_t`) is one Swift can take.
@inline(__always)
func checkedCount(_ count: Int, _ operation: String) -> collResult_t? {
    count < 0 ? CResults.invalid(operation, "count \(UInt(bitPattern: count)) is too large") : nil
}

@_cdecl("collAllReduce")
public func cAllReduce(_ send: UnsafeRawPointer?, _ receive: UnsafeMutableRawPointer?, _ count: Int, _ dataType: collDataType_t,
                       _ op: collRedOp_t, _ comm: OpaquePointer?) -> collResult_t {
    if let bad = checkedCount(count, "collAllReduce") { return bad }
    return CCall.run("collAllReduce", comm, dataType, op) { (call) throws(CollectivesError) in
        try CCollectives.allReduce(call.element, call, send, receive, count)
    }
}

@_cdecl("collBroadcast")
public func cBroadcast(_ send: UnsafeRawPointer?, _ receive: UnsafeMutableRawPointer?, _ count: Int, _ dataType: collDataType_t,
                       _ root: Int32, _ comm: OpaquePointer?) -> collResult_t {
    if let bad = checkedCount(count, "collBroadcast") { return bad }
    return CCall.run("collBroadcast", comm, dataType) { (call) throws(CollectivesError) in
        try CCollectives.broadcast(call.element, call, send, receive, count, Int(root))
    }
}

@_cdecl("collReduce")
public func cReduce(_ send: UnsafeRawPointer?, _ receive: UnsafeMutableRawPointer?, _ count: Int, _ dataType: collDataType_t,
                    _ op: collRedOp_t, _ root: Int32, _ comm: OpaquePointer?) -> collResult_t {
    if let bad = checkedCount(count, "collReduce") { return bad }
    return CCall.run("collReduce", comm, dataType, op) { (call) throws(CollectivesError) in
        try CCollectives.reduce(call.element, call, send, receive, count, Int(root))
    }
}

@_cdecl("collAllGather")
public func cAllGather(_ send: UnsafeRawPointer?, _ receive: UnsafeMutableRawPointer?, _ count: Int, _ dataType: collDataType_t,
                       _ comm: OpaquePointer?) -> collResult_t {
    if let bad = checkedCount(count, "collAllGather") { return bad }
    return CCall.run("collAllGather", comm, dataType) { (call) throws(CollectivesError) in
        try CCollectives.allGather(call.element, call, send, receive, count)
    }
}

@_cdecl("collReduceScatter")
public func cReduceScatter(_ send: UnsafeRawPointer?, _ receive: UnsafeMutableRawPointer?, _ count: Int, _ dataType: collDataType_t,
                           _ op: collRedOp_t, _ comm: OpaquePointer?) -> collResult_t {
    if let bad = checkedCount(count, "collReduceScatter") { return bad }
    return CCall.run("collReduceScatter", comm, dataType, op) { (call) throws(CollectivesError) in
        try CCollectives.reduceScatter(call.element, call, send, receive, count)
    }
}

@_cdecl("collAllToAll")
public func cAllToAll(_ send: UnsafeRawPointer?, _ receive: UnsafeMutableRawPointer?, _ count: Int, _ dataType: collDataType_t,
                      _ comm: OpaquePointer?) -> collResult_t {
    if let bad = checkedCount(count, "collAllToAll") { return bad }
    return CCall.run("collAllToAll", comm, dataType) { (call) throws(CollectivesError) in
        try CCollectives.allToAll(call.element, call, send, receive, count)
    }
}

@_cdecl("collBarrier")
public func cBarrier(_ comm: OpaquePointer?) -> collResult_t {
    CCall.run("collBarrier", comm, collUInt8) { (call) throws(CollectivesError) in try call.communicator.barrier() }
}

@_cdecl("collSend")
public func cSend(_ buffer: UnsafeRawPointer?, _ count: Int, _ dataType: collDataType_t, _ peer: Int32, _ tag: Int32,
                  _ comm: OpaquePointer?) -> collResult_t {
    if let bad = checkedCount(count, "collSend") { return bad }
    return CCall.run("collSend", comm, dataType) { (call) throws(CollectivesError) in
        try CCollectives.send(call.element, call, buffer, count, Int(peer), Int(tag))
    }
}

@_cdecl("collRecv")
public func cRecv(_ buffer: UnsafeMutableRawPointer?, _ count: Int, _ dataType: collDataType_t, _ peer: Int32, _ tag: Int32,
                  _ comm: OpaquePointer?) -> collResult_t {
    if let bad = checkedCount(count, "collRecv") { return bad }
    return CCall.run("collRecv", comm, dataType) { (call) throws(CollectivesError) in
        try CCollectives.receive(call.element, call, buffer, count, Int(peer), Int(tag))
    }
}
