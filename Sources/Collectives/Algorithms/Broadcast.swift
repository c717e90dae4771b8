import CollectivesSystem
import CollectivesTransport

/// Broadcast algorithms. Ranks are renumbered relative to the root, *v* = (rank − root) mod *n*.
enum Broadcast {
    /// Binomial tree: in round *k* every rank that has the data sends it to the rank 2^*k*
    /// above it. ⌈log2 n⌉ latencies, the whole message on each hop: for small messages.
    static func binomial(buffer: UnsafeMutableRawPointer?, bytes: Int, root: Int, exchange: Exchange) throws(TransportError) {
        let n = exchange.worldSize
        guard n > 1, bytes > 0, let base = buffer else { return }
        let v = (exchange.rank - root + n) % n
        var mask = 1
        while mask < n {
            if v & mask != 0 {
                try exchange.receive(base, bytes: bytes, from: (v - mask + root) % n)
                break
            }
            mask <<= 1
        }
        mask >>= 1
        exchange.workspace.sends.removeAll(keepingCapacity: true)
        while mask > 0 {
            if v + mask < n {
                exchange.workspace.sends.append(try exchange.postSend(base, bytes: bytes, to: (v + mask + root) % n))
            }
            mask >>= 1
        }
        try exchange.waitForSends()
    }

    /// Pipelined chain: the root streams segments to rank *v* = 1, which forwards each as it
    /// arrives to *v* = 2, and so on. Every link carries the message once, so the time tends to
    /// one message time plus *n* − 2 segment times: for large messages.
    static func chain(buffer: UnsafeMutableRawPointer?, bytes: Int, root: Int, exchange: Exchange) throws(TransportError) {
        let n = exchange.worldSize
        guard n > 1, bytes > 0, let base = buffer else { return }
        let v = (exchange.rank - root + n) % n
        let previous = (v - 1 + n + root) % n
        let next: Int? = v + 1 < n ? (v + 1 + root) % n : nil
        let segment = Swift.max(1, exchange.segmentBytes)
        let segments = (bytes + segment - 1) / segment
        let window = Swift.max(1, exchange.window)
        let workspace = exchange.workspace
        workspace.sends.removeAll(keepingCapacity: true)
        func range(_ s: Int) -> (UnsafeMutableRawPointer, Int) {
            (base + s * segment, Swift.min(segment, bytes - s * segment))
        }
        if v == 0 {
            for s in 0..<segments {
                let (start, length) = range(s)
                workspace.sends.append(try exchange.postSend(start, bytes: length, to: next!))
            }
            try exchange.waitForSends()
            return
        }
        workspace.receives.removeAll(keepingCapacity: true)
        for _ in 0..<window { workspace.receives.append(TransportRequest(rawValue: 0)) }
        var posted = 0
        for s in 0..<segments {
            while posted < segments, posted - s < window {
                let (start, length) = range(posted)
                workspace.receives[posted % window] = try exchange.postReceive(start, bytes: length, from: previous)
                posted += 1
            }
            try exchange.wait(workspace.receives[s % window])
            if let next {
                let (start, length) = range(s)
                workspace.sends.append(try exchange.postSend(start, bytes: length, to: next))
            }
        }
        try exchange.waitForSends()
    }
}
