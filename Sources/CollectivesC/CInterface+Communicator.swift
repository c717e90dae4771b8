import CCollectivesAPI
import Collectives

/// A communicator as the C side holds it: the `Communicator`, retained until `collCommDestroy`.
enum CHandles {
    static func make(_ communicator: Communicator) -> OpaquePointer {
        OpaquePointer(Unmanaged.passRetained(communicator).toOpaque())
    }

    /// The communicator behind `handle`, or the invalid-argument result for a null one.
    static func communicator(_ handle: OpaquePointer?, _ operation: String) -> Result<Communicator, CHandleError> {
        guard let handle else { return .failure(CHandleError(result: CResults.invalid(operation, "the communicator is NULL"))) }
        return .success(Unmanaged<Communicator>.fromOpaque(UnsafeRawPointer(handle)).takeUnretainedValue())
    }
}

/// A result code already recorded as this thread's last error.
struct CHandleError: Error {
    let result: collResult_t
}

@_cdecl("collCommInitFromEnv")
public func cCommInitFromEnv(_ comm: UnsafeMutablePointer<OpaquePointer?>?) -> collResult_t {
    guard let comm else { return CResults.invalid("collCommInitFromEnv", "comm is NULL") }
    comm.pointee = nil
    return CResults.run { () throws(CollectivesError) in
        comm.pointee = CHandles.make(try Communicator.fromEnvironment())
    }
}

@_cdecl("collCommRank")
public func cCommRank(_ handle: OpaquePointer?, _ rank: UnsafeMutablePointer<Int32>?) -> collResult_t {
    switch CHandles.communicator(handle, "collCommRank") {
    case .failure(let error): return error.result
    case .success(let communicator):
        guard let rank else { return CResults.invalid("collCommRank", "rank is NULL") }
        rank.pointee = Int32(communicator.rank)
        return collSuccess
    }
}

@_cdecl("collCommCount")
public func cCommCount(_ handle: OpaquePointer?, _ count: UnsafeMutablePointer<Int32>?) -> collResult_t {
    switch CHandles.communicator(handle, "collCommCount") {
    case .failure(let error): return error.result
    case .success(let communicator):
        guard let count else { return CResults.invalid("collCommCount", "count is NULL") }
        count.pointee = Int32(communicator.worldSize)
        return collSuccess
    }
}

@_cdecl("collCommAbort")
public func cCommAbort(_ handle: OpaquePointer?) -> collResult_t {
    switch CHandles.communicator(handle, "collCommAbort") {
    case .failure(let error): return error.result
    case .success(let communicator):
        communicator.abort()
        return collSuccess
    }
}

@_cdecl("collCommDestroy")
public func cCommDestroy(_ handle: OpaquePointer?) -> collResult_t {
    guard let handle else { return CResults.invalid("collCommDestroy", "the communicator is NULL") }
    let communicator = Unmanaged<Communicator>.fromOpaque(UnsafeRawPointer(handle)).takeRetainedValue()
    communicator.close()
    return collSuccess
}

@_cdecl("collCommSplit")
public func cCommSplit(_ handle: OpaquePointer?, _ color: Int32, _ key: Int32, _ newcomm: UnsafeMutablePointer<OpaquePointer?>?) -> collResult_t {
    guard let newcomm else { return CResults.invalid("collCommSplit", "newcomm is NULL") }
    newcomm.pointee = nil
    switch CHandles.communicator(handle, "collCommSplit") {
    case .failure(let error): return error.result
    case .success(let communicator):
        return CResults.run { () throws(CollectivesError) in
            if let part = try communicator.split(color: color == COLL_SPLIT_NOCOLOR ? nil : Int(color), key: Int(key)) {
                newcomm.pointee = CHandles.make(part)
            }
        }
    }
}
