import CCollectivesAPI
import Collectives

/// The C enums as the Swift API's types; `nil` for a value the header does not define.
enum CTypes {
    static func dataType(_ value: collDataType_t) -> DataType? {
        switch value {
        case collFloat32: return .float32
        case collFloat64: return .float64
        case collFloat16: return .float16
        case collBFloat16: return .bfloat16
        case collInt8: return .int8
        case collUInt8: return .uint8
        case collInt32: return .int32
        case collUInt32: return .uint32
        case collInt64: return .int64
        case collUInt64: return .uint64
        case collBool: return .bool
        default: return nil
        }
    }

    static func operation(_ value: collRedOp_t) -> ReduceOperation? {
        switch value {
        case collSum: return .sum
        case collProduct: return .product
        case collMin: return .min
        case collMax: return .max
        case collAverage: return .average
        case collBitwiseAnd: return .bitwiseAnd
        case collBitwiseOr: return .bitwiseOr
        case collBitwiseXor: return .bitwiseXor
        default: return nil
        }
    }
}

/// The checked arguments of one C call: the communicator, the element type and (for
/// reductions) the operation, or the result code of what was wrong.
struct CCall: @unchecked Sendable {
    let communicator: Communicator
    let dataType: DataType
    let element: any CollectiveElement.Type
    let op: ReduceOperation

    static func check(_ operation: String, _ handle: OpaquePointer?, _ dataType: collDataType_t,
                      _ op: collRedOp_t = collSum) -> Result<CCall, CHandleError> {
        let communicator: Communicator
        switch CHandles.communicator(handle, operation) {
        case .failure(let error): return .failure(error)
        case .success(let made): communicator = made
        }
        guard let type = CTypes.dataType(dataType) else {
            return .failure(CHandleError(result: CResults.invalid(operation, "data type \(dataType.rawValue) is not one of collectives.h's")))
        }
        guard let operation = CTypes.operation(op) else {
            return .failure(CHandleError(result: CResults.invalid(operation, "operation \(op.rawValue) is not one of collectives.h's")))
        }
        return .success(CCall(communicator: communicator, dataType: type, element: type.elementType, op: operation))
    }

    /// Runs `body` with the checked call, as a result code.
    static func run(_ operation: String, _ handle: OpaquePointer?, _ dataType: collDataType_t, _ op: collRedOp_t = collSum,
                    _ body: (CCall) throws(CollectivesError) -> Void) -> collResult_t {
        switch check(operation, handle, dataType, op) {
        case .failure(let error): return error.result
        case .success(let call): return CResults.run { () throws(CollectivesError) in try body(call) }
        }
    }
}

/// A C call's buffers, carried into a started call (the caller lends them until the request
/// finishes, as collectives.h says).
struct CBuffers: @unchecked Sendable {
    let send: UnsafeRawPointer?
    let receive: UnsafeMutableRawPointer?

    init(_ send: UnsafeRawPointer?, _ receive: UnsafeMutableRawPointer?) {
        self.send = send
        self.receive = receive
    }
}

extension CCall {
    /// Checks a non-blocking call's arguments and starts `body` (the blocking form's) on the
    /// communicator's thread, handing back its request.
    static func start(_ operation: String, _ handle: OpaquePointer?, _ dataType: collDataType_t, _ op: collRedOp_t = collSum,
                      request: UnsafeMutablePointer<OpaquePointer?>?, counts: [Int] = [],
                      _ body: @escaping @Sendable (CCall) throws(CollectivesError) -> Void) -> collResult_t {
        guard let request else { return CResults.invalid(operation, "request is NULL") }
        request.pointee = nil
        for count in counts {
            if let bad = checkedCount(count, operation) { return bad }
        }
        switch check(operation, handle, dataType, op) {
        case .failure(let error): return error.result
        case .success(let call):
            request.pointee = CRequests.make(call.communicator.startBlocking { () throws(CollectivesError) in try body(call) })
            return collSuccess
        }
    }
}

extension UnsafeBufferPointer {
    /// `count` elements at `base` (which may be NULL only when `count` is zero).
    init(_ base: UnsafeRawPointer?, _ count: Int) {
        self.init(start: base?.assumingMemoryBound(to: Element.self), count: count)
    }
}

extension UnsafeMutableBufferPointer {
    init(_ base: UnsafeMutableRawPointer?, _ count: Int) {
        self.init(start: base?.assumingMemoryBound(to: Element.self), count: count)
    }
}
