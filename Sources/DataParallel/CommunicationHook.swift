import Collectives

/// How a bucket of gradients travels between ranks: the place to change what is sent, as
/// PyTorch DDP's communication hooks allow (compression, quantization, a different collective).
///
/// The trainer calls ``start(bucket:gradients:communicator:algorithm:)`` as soon as backward has
/// filled a bucket with this rank's summed gradients, then, once the request completes,
/// ``finish(bucket:gradients:)``, after which `gradients` must hold the sum over all ranks.
public protocol CommunicationHook: AnyObject {
    /// Starts the exchange of bucket `bucket` and returns the request to wait on. `gradients`
    /// stays valid and untouched by the trainer until ``finish(bucket:gradients:)``.
    func start(bucket: Int, gradients: UnsafeMutableBufferPointer<Float>, communicator: Communicator,
               algorithm: Algorithm?) -> CollectiveRequest
    /// Completes bucket `bucket` after its request finished: `gradients` must then hold the sum.
    func finish(bucket: Int, gradients: UnsafeMutableBufferPointer<Float>)
    /// Bytes this rank puts into the collective for a bucket of `count` gradients.
    func wireBytes(count: Int) -> Int
}

/// The default: all-reduce the `Float` gradients in place.
public final class AllReduceHook: CommunicationHook {
    public init() {}

    public func start(bucket: Int, gradients: UnsafeMutableBufferPointer<Float>, communicator: Communicator,
                      algorithm: Algorithm?) -> CollectiveRequest {
        communicator.startAllReduce(gradients, op: .sum, algorithm: algorithm)
    }

    public func finish(bucket: Int, gradients: UnsafeMutableBufferPointer<Float>) {}

    public func wireBytes(count: Int) -> Int { count * 4 }
}

/// All-reduces gradients in 16 bits (`bfloat16` or `float16`): half the bytes on the wire.
/// Each bucket is rounded to the half type, summed over ranks in it, and widened back.
///
/// With error feedback (Seide et al. 2014; Karimireddy et al. 2019), each rank keeps what its
/// rounding lost and adds it to the next step's gradients of the same bucket, so no part of a
/// gradient is lost for good, only delayed. The residuals are this rank's own state.
public final class CompressionHook: CommunicationHook {
    public let precision: HalfPrecision
    public let errorFeedback: Bool
    private var halves: [UnsafeMutableBufferPointer<UInt16>] = []
    private var residuals: [UnsafeMutableBufferPointer<Float>] = []
    private var rounded: UnsafeMutableBufferPointer<Float> = .init(start: nil, count: 0)

    public init(precision: HalfPrecision, errorFeedback: Bool = true) {
        self.precision = precision
        self.errorFeedback = errorFeedback
    }

    deinit {
        halves.forEach { $0.deallocate() }
        residuals.forEach { $0.deallocate() }
        rounded.deallocate()
    }

    /// Buffers for bucket `bucket` of `count` gradients, made on its first use.
    private func storage(_ bucket: Int, _ count: Int) -> UnsafeMutableBufferPointer<UInt16> {
        while halves.count <= bucket {
            halves.append(.allocate(capacity: 0))
            residuals.append(.allocate(capacity: 0))
        }
        if halves[bucket].count != count {
            halves[bucket].deallocate()
            residuals[bucket].deallocate()
            halves[bucket] = .allocate(capacity: count)
            residuals[bucket] = .allocate(capacity: count)
            residuals[bucket].initialize(repeating: 0)
        }
        if rounded.count < count {
            rounded.deallocate()
            rounded = .allocate(capacity: count)
        }
        return halves[bucket]
    }

    public func start(bucket: Int, gradients: UnsafeMutableBufferPointer<Float>, communicator: Communicator,
                      algorithm: Algorithm?) -> CollectiveRequest {
        let count = gradients.count
        let half = storage(bucket, count)
        if errorFeedback {
            let residual = residuals[bucket]
            for i in 0..<count { gradients[i] += residual[i] }
        }
        precision.narrow(UnsafeBufferPointer(gradients), into: half)
        if errorFeedback {
            // What this rank's rounding lost, to be sent next step.
            let back = UnsafeMutableBufferPointer(rebasing: rounded[0..<count])
            precision.widen(UnsafeBufferPointer(half), into: back)
            let residual = residuals[bucket]
            for i in 0..<count { residual[i] = gradients[i] - back[i] }
        }
        return communicator.startAllReduce(UnsafeMutableRawBufferPointer(half), dataType: precision.dataType, op: .sum, algorithm: algorithm)
    }

    public func finish(bucket: Int, gradients: UnsafeMutableBufferPointer<Float>) {
        precision.widen(UnsafeBufferPointer(halves[bucket]), into: gradients)
    }

    public func wireBytes(count: Int) -> Int { count * 2 }
}
