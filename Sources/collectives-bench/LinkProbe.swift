import Collectives
import CollectivesSystem

/// Point-to-point latency and bandwidth between ring neighbours, measured with tagged sends and
/// receives: every rank sends to rank + 1 while receiving from rank − 1, so each link carries
/// one message each way at once, as in a ring step.
struct LinkProbe {
    /// Seconds for one 8-byte step (median of many).
    var latencySeconds: Double
    /// Bytes per second one link carries in one direction (best of a few large steps).
    var bytesPerSecond: Double
    var largeBytes: Int

    static func measure(_ communicator: Communicator, largeBytes: Int = 64 << 20) throws -> LinkProbe {
        let n = communicator.worldSize
        guard n > 1 else { return LinkProbe(latencySeconds: 0, bytesPerSecond: .infinity, largeBytes: largeBytes) }
        let right = (communicator.rank + 1) % n, left = (communicator.rank + n - 1) % n
        let out = UnsafeMutableBufferPointer<Int32>.allocate(capacity: largeBytes / 4)
        let into = UnsafeMutableBufferPointer<Int32>.allocate(capacity: largeBytes / 4)
        defer { out.deallocate(); into.deallocate() }
        out.initialize(repeating: 1)
        into.initialize(repeating: 0)

        func shift(_ bytes: Int) throws -> Double {
            try communicator.barrier()
            let start = MonotonicClock.nanoseconds
            let receive = communicator.startReceive(into: UnsafeMutableBufferPointer(rebasing: into[0..<(bytes / 4)]), from: left, tag: 1)
            let send = communicator.startSend(UnsafeBufferPointer(rebasing: UnsafeBufferPointer(out)[0..<(bytes / 4)]), to: right, tag: 1)
            try receive.wait()
            try send.wait()
            return MonotonicClock.seconds(since: start)
        }
        var small: [Double] = []
        for _ in 0..<50 { small.append(try shift(8)) }
        small.sort()
        var large = Double.infinity
        for _ in 0..<3 { large = Swift.min(large, try shift(largeBytes)) }
        // Every rank reports the slowest link's figures.
        var figures = [small[small.count / 2], large]
        try communicator.allReduce(&figures, op: .max)
        return LinkProbe(latencySeconds: figures[0], bytesPerSecond: Double(largeBytes) / figures[1], largeBytes: largeBytes)
    }
}
