import Benchmark
import CollectivesSystem
import CollectivesTransport
import Foundation
import Synchronization

/// The TCP transport's throughput over one loopback connection, through the public API of the
/// `CollectivesTransport` product (this package sees nothing else of the library).
let benchmarks: @Sendable () -> Void = {
    Benchmark.defaultConfiguration = .init(
        metrics: [.wallClock, .throughput, .mallocCountTotal],
        timeUnits: .nanoseconds,
        maxDuration: .seconds(1))

    let rate = BenchmarkMetric.custom("MB/s", polarity: .prefersLarger, useScalingFactor: false)
    for size in [64 << 10, 1 << 20, 16 << 20] {
        Benchmark("tcp loopback send \(size >> 10) KiB",
                  configuration: .init(metrics: [.wallClock, rate, .mallocCountTotal], timeUnits: .microseconds),
                  closure: { benchmark, pair in
                      for _ in benchmark.scaledIterations {
                          let start = Deadline.now.uptimeNanoseconds
                          pair.send(size)
                          let seconds = Double(Deadline.now.uptimeNanoseconds - start) / 1e9
                          benchmark.measurement(rate, Int(Double(size) / seconds / 1e6))
                      }
                  },
                  setup: { try LoopbackPair(largest: size) },
                  teardown: nil)
    }
}

/// Two TCP transports connected over loopback; a thread plays the receiving rank, taking each
/// message the sender announces.
final class LoopbackPair: @unchecked Sendable {
    let sender: TCPTransport
    let receiver: TCPTransport
    let buffer: UnsafeMutableRawBufferPointer
    let lock = NSCondition()
    var pending: [Int] = []
    var received = 0
    let receiverDone = DispatchSemaphore(value: 0)

    init(largest: Int) throws {
        let listeners = try (0..<2).map { _ in try Socket.listen(on: .loopback(port: 0)) }
        let addresses = try listeners.map { try $0.localAddress() }
        let second = Mutex<TCPTransport?>(nil)
        let connected = DispatchSemaphore(value: 0)
        Thread.detachNewThread {
            let made = try? TCPTransport.establish(rank: 1, worldSize: 2, jobID: 7, listener: listeners[1],
                                                   peerAddresses: addresses, deadline: .after(seconds: 10))
            second.withLock { $0 = made }
            connected.signal()
        }
        let first = try TCPTransport.establish(rank: 0, worldSize: 2, jobID: 7, listener: listeners[0],
                                               peerAddresses: addresses, deadline: .after(seconds: 10))
        connected.wait()
        listeners.forEach { $0.close() }
        guard let a = Optional(first), let b = second.withLock({ $0 }) else { throw TransportError(.closed, rank: 1, peer: 0, operation: "set-up") }
        sender = a
        receiver = b
        buffer = .allocate(byteCount: largest, alignment: 64)
        buffer.initializeMemory(as: UInt8.self, repeating: 7)
        Thread.detachNewThread { [self] in
            while true {
                let size: Int = lock.withLock {
                    while pending.isEmpty { lock.wait() }
                    return pending.removeFirst()
                }
                if size < 0 { receiverDone.signal(); return }
                try? receiver.receive(into: UnsafeMutableRawBufferPointer(rebasing: buffer[0..<size]), from: 0, tag: 1,
                                      deadline: .after(seconds: 30))
                lock.withLock {
                    received += 1
                    lock.broadcast()
                }
            }
        }
    }

    /// Sends `size` bytes and returns when the receiver has them all.
    func send(_ size: Int) {
        let target: Int = lock.withLock {
            pending.append(size)
            lock.broadcast()
            return received + 1
        }
        // The receiver writes into the same memory the sender reads: the bytes are not checked.
        let scratch = UnsafeRawBufferPointer(start: buffer.baseAddress, count: size)
        try? sender.send(scratch, to: 1, tag: 1, deadline: .after(seconds: 30))
        lock.withLock {
            while received < target { lock.wait() }
        }
    }

    deinit {
        lock.withLock { pending.append(-1); lock.broadcast() }
        sender.close()
        receiver.close()
        receiverDone.wait()
        buffer.deallocate()
    }
}
