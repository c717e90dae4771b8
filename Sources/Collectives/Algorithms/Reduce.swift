import CollectivesSystem
import CollectivesTransport

/// Reduce algorithms: the reduction of every rank's buffer ends in the root's; other ranks'
/// buffers are left as they were (partial results go through workspace memory). Ranks are
/// renumbered relative to the root, *v* = (rank − root) mod *n*.
enum Reduce {
    /// Binomial tree, the mirror of ``Broadcast/binomial(buffer:bytes:root:exchange:)``:
    /// ⌈log2 n⌉ latencies, for small messages.
    static func binomial(
        buffer: UnsafeMutableRawPointer?, count: Int, elementSize: Int, kernel: ReductionKernel, root: Int, exchange: Exchange
    ) throws(TransportError) {
        let n = exchange.worldSize
        guard n > 1, count > 0, let base = buffer else { return }
        let v = (exchange.rank - root + n) % n
        let bytes = count * elementSize
        let workspace = exchange.workspace
        let scratch = workspace.scratch(atLeast: bytes)
        // The running sum: the caller's buffer on the root, a copy elsewhere (made at the first child).
        var sum: UnsafeMutableRawPointer = base
        var mask = 1
        while mask < n {
            if v & mask != 0 {
                try exchange.send(sum, bytes: bytes, to: (v - mask + root) % n)
                return
            }
            if v + mask < n {
                try exchange.receive(scratch, bytes: bytes, from: (v + mask + root) % n)
                if v != 0, sum == base {
                    sum = workspace.staging(atLeast: bytes)
                    sum.copyMemory(from: base, byteCount: bytes)
                }
                kernel.combine(sum, scratch, count)
            }
            mask <<= 1
        }
        kernel.finish?(base, count, n)
    }

    /// Pipelined chain: rank *v* = *n* − 1 streams its segments to *v* − 1, which adds its own
    /// and passes them on, down to the root. Each link carries the message once: for large
    /// messages.
    static func chain(
        buffer: UnsafeMutableRawPointer?, count: Int, elementSize: Int, kernel: ReductionKernel, root: Int, exchange: Exchange
    ) throws(TransportError) {
        let n = exchange.worldSize
        guard n > 1, count > 0, let base = buffer else { return }
        let v = (exchange.rank - root + n) % n
        let next = (v - 1 + n + root) % n  // towards the root
        let previous: Int? = v + 1 < n ? (v + 1 + root) % n : nil
        let segmentElements = exchange.segmentElements(elementSize)
        let segments = (count + segmentElements - 1) / segmentElements
        let window = Swift.max(1, exchange.window)
        let slotBytes = segmentElements * elementSize
        let workspace = exchange.workspace
        workspace.sends.removeAll(keepingCapacity: true)
        func range(_ s: Int) -> Range<Int> { (s * segmentElements)..<Swift.min((s + 1) * segmentElements, count) }

        guard let previous else {
            // The far end: send the buffer as it is.
            for s in 0..<segments {
                let r = range(s)
                workspace.sends.append(try exchange.postSend(base + r.lowerBound * elementSize, bytes: r.count * elementSize, to: next))
            }
            try exchange.waitForSends()
            return
        }
        let scratch = workspace.scratch(atLeast: window * slotBytes)
        // receives[i]: the receive into slot i; receives[window + i]: the send out of slot i.
        workspace.receives.removeAll(keepingCapacity: true)
        for _ in 0..<(2 * window) { workspace.receives.append(TransportRequest(rawValue: 0)) }
        var posted = 0
        for s in 0..<segments {
            while posted < segments, posted - s < window {
                let slot = posted % window
                if v != 0, posted >= window { try exchange.wait(workspace.receives[window + slot]) }
                workspace.receives[slot] = try exchange.postReceive(scratch + slot * slotBytes, bytes: range(posted).count * elementSize, from: previous)
                posted += 1
            }
            let slot = s % window
            let r = range(s)
            try exchange.wait(workspace.receives[slot])
            let own = base + r.lowerBound * elementSize
            let incoming = scratch + slot * slotBytes
            if v == 0 {
                kernel.combine(own, incoming, r.count)
                kernel.finish?(own, r.count, n)
            } else {
                kernel.combine(incoming, own, r.count)
                workspace.receives[window + slot] = try exchange.postSend(incoming, bytes: r.count * elementSize, to: next)
            }
        }
        if v != 0 {
            for s in Swift.max(0, segments - window)..<segments { try exchange.wait(workspace.receives[window + s % window]) }
        }
    }
}
