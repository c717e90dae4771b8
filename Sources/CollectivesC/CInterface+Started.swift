import CCollectivesAPI
import Collectives

// The non-blocking forms of collectives.h: each checks its arguments as its blocking form does,
// starts that form's body on the communicator's thread, and hands back a request for collTest and
// collWait. (collIAllReduce, collISend and collIRecv are in CInterface+Requests.swift.)

@_cdecl("collIBroadcast")
public func cIBroadcast(_ send: UnsafeRawPointer?, _ receive: UnsafeMutableRawPointer?, _ count: Int, _ dataType: collDataType_t,
                        _ root: Int32, _ comm: OpaquePointer?, _ request: UnsafeMutablePointer<OpaquePointer?>?) -> collResult_t {
    let buffers = CBuffers(send, receive)
    return CCall.start("collIBroadcast", comm, dataType, request: request, counts: [count]) { (call) throws(CollectivesError) in
        try CCollectives.broadcast(call.element, call, buffers.send, buffers.receive, count, Int(root))
    }
}

@_cdecl("collIReduce")
public func cIReduce(_ send: UnsafeRawPointer?, _ receive: UnsafeMutableRawPointer?, _ count: Int, _ dataType: collDataType_t,
                     _ op: collRedOp_t, _ root: Int32, _ comm: OpaquePointer?, _ request: UnsafeMutablePointer<OpaquePointer?>?) -> collResult_t {
    let buffers = CBuffers(send, receive)
    return CCall.start("collIReduce", comm, dataType, op, request: request, counts: [count]) { (call) throws(CollectivesError) in
        try CCollectives.reduce(call.element, call, buffers.send, buffers.receive, count, Int(root))
    }
}

@_cdecl("collIAllGather")
public func cIAllGather(_ send: UnsafeRawPointer?, _ receive: UnsafeMutableRawPointer?, _ count: Int, _ dataType: collDataType_t,
                        _ comm: OpaquePointer?, _ request: UnsafeMutablePointer<OpaquePointer?>?) -> collResult_t {
    let buffers = CBuffers(send, receive)
    return CCall.start("collIAllGather", comm, dataType, request: request, counts: [count]) { (call) throws(CollectivesError) in
        try CCollectives.allGather(call.element, call, buffers.send, buffers.receive, count)
    }
}

@_cdecl("collIReduceScatter")
public func cIReduceScatter(_ send: UnsafeRawPointer?, _ receive: UnsafeMutableRawPointer?, _ count: Int, _ dataType: collDataType_t,
                            _ op: collRedOp_t, _ comm: OpaquePointer?, _ request: UnsafeMutablePointer<OpaquePointer?>?) -> collResult_t {
    let buffers = CBuffers(send, receive)
    return CCall.start("collIReduceScatter", comm, dataType, op, request: request, counts: [count]) { (call) throws(CollectivesError) in
        try CCollectives.reduceScatter(call.element, call, buffers.send, buffers.receive, count)
    }
}

@_cdecl("collIAllToAll")
public func cIAllToAll(_ send: UnsafeRawPointer?, _ receive: UnsafeMutableRawPointer?, _ count: Int, _ dataType: collDataType_t,
                       _ comm: OpaquePointer?, _ request: UnsafeMutablePointer<OpaquePointer?>?) -> collResult_t {
    let buffers = CBuffers(send, receive)
    return CCall.start("collIAllToAll", comm, dataType, request: request, counts: [count]) { (call) throws(CollectivesError) in
        try CCollectives.allToAll(call.element, call, buffers.send, buffers.receive, count)
    }
}

@_cdecl("collIGather")
public func cIGather(_ send: UnsafeRawPointer?, _ receive: UnsafeMutableRawPointer?, _ count: Int, _ dataType: collDataType_t,
                     _ root: Int32, _ comm: OpaquePointer?, _ request: UnsafeMutablePointer<OpaquePointer?>?) -> collResult_t {
    let buffers = CBuffers(send, receive)
    return CCall.start("collIGather", comm, dataType, request: request, counts: [count]) { (call) throws(CollectivesError) in
        try CPersonalized.gather(call.element, call, buffers.send, buffers.receive, count, Int(root))
    }
}

@_cdecl("collIScatter")
public func cIScatter(_ send: UnsafeRawPointer?, _ receive: UnsafeMutableRawPointer?, _ count: Int, _ dataType: collDataType_t,
                      _ root: Int32, _ comm: OpaquePointer?, _ request: UnsafeMutablePointer<OpaquePointer?>?) -> collResult_t {
    let buffers = CBuffers(send, receive)
    return CCall.start("collIScatter", comm, dataType, request: request, counts: [count]) { (call) throws(CollectivesError) in
        try CPersonalized.scatter(call.element, call, buffers.send, buffers.receive, count, Int(root))
    }
}

@_cdecl("collIBarrier")
public func cIBarrier(_ comm: OpaquePointer?, _ request: UnsafeMutablePointer<OpaquePointer?>?) -> collResult_t {
    CCall.start("collIBarrier", comm, collUInt8, request: request) { (call) throws(CollectivesError) in try call.communicator.barrier() }
}
