import Collectives
import CollectivesSystem

/// Starts each gradient bucket's exchange as soon as backward has finished all of its layers,
/// then waits for them in order: the overlap of communication with backward that both trainers
/// use.
struct BucketExchange {
    let buckets: GradientBuckets
    let hook: any CommunicationHook
    private var pendingLayers: [Int]
    private var requests: [CollectiveRequest?]

    init(buckets: GradientBuckets, hook: any CommunicationHook) {
        self.buckets = buckets
        self.hook = hook
        pendingLayers = buckets.buckets.map { $0.layers.count }
        requests = Array(repeating: nil, count: buckets.buckets.count)
    }

    /// Backward finished `layer`: starts its bucket's exchange if that was the bucket's last.
    mutating func layerDone(_ layer: Int, gradients: UnsafeMutableBufferPointer<Float>, communicator: Communicator,
                            algorithm: Algorithm?) {
        let bucket = buckets.bucketOfLayer[layer]
        pendingLayers[bucket] -= 1
        if pendingLayers[bucket] == 0 {
            requests[bucket] = hook.start(bucket: bucket, gradients: slice(gradients, bucket), communicator: communicator,
                                          algorithm: algorithm)
        }
    }

    /// Waits for every bucket started, lets the hook finish each (`gradients` then hold the
    /// sums), records each exchange on the timeline's communication thread and returns the
    /// nanoseconds they ran. Ready for the next step afterwards.
    mutating func finishAll(gradients: UnsafeMutableBufferPointer<Float>, timeline: inout Timeline) throws(CollectivesError) -> UInt64 {
        var communication: UInt64 = 0
        defer { pendingLayers = buckets.buckets.map { $0.layers.count } }
        for index in requests.indices {
            guard let request = requests[index] else { continue }
            requests[index] = nil
            try request.wait()
            hook.finish(bucket: index, gradients: slice(gradients, index))
            if let (start, end) = request.executionInterval {
                communication += end - start
                timeline.record("all-reduce bucket \(index)", thread: 1, from: start, to: end)
            }
        }
        return communication
    }

    /// Exchanges every bucket now, one after another (no overlap).
    func exchangeAll(gradients: UnsafeMutableBufferPointer<Float>, communicator: Communicator, algorithm: Algorithm?,
                     timeline: inout Timeline) throws(CollectivesError) -> UInt64 {
        var communication: UInt64 = 0
        for index in buckets.buckets.indices {
            let start = MonotonicClock.nanoseconds
            try hook.start(bucket: index, gradients: slice(gradients, index), communicator: communicator, algorithm: algorithm).wait()
            hook.finish(bucket: index, gradients: slice(gradients, index))
            let end = MonotonicClock.nanoseconds
            timeline.record("all-reduce bucket \(index)", thread: 1, from: start, to: end)
            communication += end - start
        }
        return communication
    }

    private func slice(_ gradients: UnsafeMutableBufferPointer<Float>, _ bucket: Int) -> UnsafeMutableBufferPointer<Float> {
        UnsafeMutableBufferPointer(rebasing: gradients[buckets.buckets[bucket].range])
    }

    /// Bytes this rank puts into the exchanges of one step.
    var wireBytes: Int { buckets.buckets.reduce(0) { $0 + hook.wireBytes(count: $1.range.count) } }
}
