import CCollectivesAPI
import Collectives

/// Non-blocking calls: a request is a retained `CollectiveRequest`, released when its outcome
/// is handed back (collTest reporting done, or collWait).
enum CRequests {
    static func make(_ request: CollectiveRequest) -> OpaquePointer {
        OpaquePointer(Unmanaged.passRetained(request).toOpaque())
    }

    /// Waits for the request, releases it and returns its result code.
    static func finish(_ handle: OpaquePointer) -> collResult_t {
        let request = Unmanaged<CollectiveRequest>.fromOpaque(UnsafeRawPointer(handle)).takeRetainedValue()
        return CResults.run { () throws(CollectivesError) in try request.wait() }
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
    let pending = Unmanaged<CollectiveRequest>.fromOpaque(UnsafeRawPointer(request)).takeUnretainedValue()
    guard pending.isComplete else {
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
