import CCollectivesAPI
import Collectives

/// A request as the C side holds it: a collective's, which can say whether it is done, or a
/// point-to-point message's, which only waiting finishes.
final class CRequest {
    let request: any CommunicationRequest
    let collective: CollectiveRequest?

    init(_ request: CollectiveRequest) {
        self.request = request
        collective = request
    }

    init(_ request: PointToPointRequest) {
        self.request = request
        collective = nil
    }
}

/// Non-blocking calls: a request is a retained `CRequest`, released when its outcome is handed
/// back (collTest reporting done, or collWait).
enum CRequests {
    static func make(_ request: CRequest) -> OpaquePointer {
        OpaquePointer(Unmanaged.passRetained(request).toOpaque())
    }

    static func make(_ request: CollectiveRequest) -> OpaquePointer { make(CRequest(request)) }

    static func peek(_ handle: OpaquePointer) -> CRequest {
        Unmanaged<CRequest>.fromOpaque(UnsafeRawPointer(handle)).takeUnretainedValue()
    }

    /// Waits for the request, releases it and returns its result code.
    static func finish(_ handle: OpaquePointer) -> collResult_t {
        let held = Unmanaged<CRequest>.fromOpaque(UnsafeRawPointer(handle)).takeRetainedValue()
        return CResults.run { () throws(CollectivesError) in try held.request.wait() }
    }
}

@_cdecl("collIAllReduce")
public func cIAllReduce(_ send: UnsafeRawPointer?, _ receive: UnsafeMutableRawPointer?, _ count: Int, _ dataType: collDataType_t,
                        _ op: collRedOp_t, _ comm: OpaquePointer?, _ request: UnsafeMutablePointer<OpaquePointer?>?) -> collResult_t {
    guard let request else { return CResults.invalid("collIAllReduce", "request is NULL") }
    request.pointee = nil
    if let bad = checkedCount(count, "collIAllReduce") { return bad }
    switch CCall.check("collIAllReduce", comm, dataType, op) {
    case .failure(let error): return error.result
    case .success(let call):
        let bytes = count * call.dataType.size
        let started: CollectiveRequest
        if send == UnsafeRawPointer(receive) {
            started = call.communicator.startAllReduce(UnsafeMutableRawBufferPointer(start: receive, count: bytes), dataType: call.dataType, op: call.op)
        } else {
            started = startOutOfPlace(call.element, call, send, receive, count)
        }
        request.pointee = CRequests.make(started)
        return collSuccess
    }
}

private func startOutOfPlace<T: CollectiveElement>(_: T.Type, _ call: CCall, _ send: UnsafeRawPointer?, _ receive: UnsafeMutableRawPointer?,
                                                   _ count: Int) -> CollectiveRequest {
    call.communicator.startAllReduce(UnsafeBufferPointer<T>(send, count), into: UnsafeMutableBufferPointer<T>(receive, count), op: call.op)
}

@_cdecl("collTest")
public func cTest(_ request: OpaquePointer?, _ done: UnsafeMutablePointer<Int32>?) -> collResult_t {
    guard let request, let done else { return CResults.invalid("collTest", "request or done is NULL") }
    // A point-to-point request has no test of its own: collTest waits for it (collectives.h says so).
    if let pending = CRequests.peek(request).collective, !pending.isComplete {
        done.pointee = 0
        return collInProgress
    }
    done.pointee = 1
    return CRequests.finish(request)
}

@_cdecl("collWait")
public func cWait(_ request: OpaquePointer?) -> collResult_t {
    guard let request else { return CResults.invalid("collWait", "request is NULL") }
    return CRequests.finish(request)
}

@_cdecl("collISend")
public func cISend(_ buffer: UnsafeRawPointer?, _ count: Int, _ dataType: collDataType_t, _ peer: Int32, _ tag: Int32,
                   _ comm: OpaquePointer?, _ request: UnsafeMutablePointer<OpaquePointer?>?) -> collResult_t {
    guard let request else { return CResults.invalid("collISend", "request is NULL") }
    request.pointee = nil
    if let bad = checkedCount(count, "collISend") { return bad }
    switch CCall.check("collISend", comm, dataType) {
    case .failure(let error): return error.result
    case .success(let call):
        request.pointee = CRequests.make(CRequest(startSend(call.element, call, buffer, count, Int(peer), Int(tag))))
        return collSuccess
    }
}

@_cdecl("collIRecv")
public func cIRecv(_ buffer: UnsafeMutableRawPointer?, _ count: Int, _ dataType: collDataType_t, _ peer: Int32, _ tag: Int32,
                   _ comm: OpaquePointer?, _ request: UnsafeMutablePointer<OpaquePointer?>?) -> collResult_t {
    guard let request else { return CResults.invalid("collIRecv", "request is NULL") }
    request.pointee = nil
    if let bad = checkedCount(count, "collIRecv") { return bad }
    switch CCall.check("collIRecv", comm, dataType) {
    case .failure(let error): return error.result
    case .success(let call):
        request.pointee = CRequests.make(CRequest(startReceive(call.element, call, buffer, count, Int(peer), Int(tag))))
        return collSuccess
    }
}

private func startSend<T: CollectiveElement>(_: T.Type, _ call: CCall, _ buffer: UnsafeRawPointer?, _ count: Int, _ peer: Int,
                                             _ tag: Int) -> PointToPointRequest {
    call.communicator.startSend(UnsafeBufferPointer<T>(buffer, count), to: peer, tag: tag)
}

private func startReceive<T: CollectiveElement>(_: T.Type, _ call: CCall, _ buffer: UnsafeMutableRawPointer?, _ count: Int, _ peer: Int,
                                                _ tag: Int) -> PointToPointRequest {
    call.communicator.startReceive(into: UnsafeMutableBufferPointer<T>(buffer, count), from: peer, tag: tag)
}
