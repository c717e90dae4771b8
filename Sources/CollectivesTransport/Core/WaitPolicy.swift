import CCollectivesAtomics
import CollectivesSystem

/// How a thread that waits on a transport spends its time: it polls, then yields its core
/// between polls, then sleeps.
///
/// - **Spin** for ``spinMicroseconds``: poll without pause. A reply that comes within this time
///   costs no system call and no wake-up (tens of microseconds on a virtual machine).
/// - **Yield** for ``yieldMicroseconds`` more: poll, and between polls hand the core to any other
///   runnable thread (`sched_yield`). When ranks outnumber cores, the rank this one waits for is
///   usually such a thread: it runs at once instead of after a wake-up, which is how OpenMPI
///   waits when oversubscribed.
/// - **Sleep** after that: in `poll(2)` (TCP), on a futex (shared memory) or in short naps
///   (RDMA), woken by the peer. An idle rank ends up here and costs nothing.
///
/// ``automatic(localRanks:cores:)`` picks the measured defaults (docs/transports.md);
/// `COLLECTIVES_SPIN_MICROSECONDS` and `COLLECTIVES_YIELD_MICROSECONDS` override them.
public struct WaitPolicy: Sendable, Hashable, CustomStringConvertible {
    /// How long a wait polls without pause before it yields or sleeps.
    public var spinMicroseconds: Int
    /// How long, after spinning, a wait keeps polling with `sched_yield` between polls before
    /// it sleeps. Zero sleeps straight after the spin.
    public var yieldMicroseconds: Int

    public init(spinMicroseconds: Int, yieldMicroseconds: Int) {
        self.spinMicroseconds = Swift.max(0, spinMicroseconds)
        self.yieldMicroseconds = Swift.max(0, yieldMicroseconds)
    }

    /// Sleeps at once: the right policy for waits that are expected to be long.
    public static let sleep = WaitPolicy(spinMicroseconds: 0, yieldMicroseconds: 0)

    /// The default for `localRanks` ranks sharing a host with `cores` cores available.
    ///
    /// With a core per rank: spin 50 µs, then yield for up to 10 ms, then sleep. With more ranks
    /// than cores: yield at once (a spin only delays the rank being waited for), for up to 10 ms,
    /// then sleep. Measured in docs/benchmarks.md ("Waiting").
    public static func automatic(localRanks: Int, cores: Int = WaitPolicy.availableCores) -> WaitPolicy {
        localRanks <= cores
            ? WaitPolicy(spinMicroseconds: 50, yieldMicroseconds: 10_000)
            : WaitPolicy(spinMicroseconds: 0, yieldMicroseconds: 10_000)
    }

    /// The cores this process may run on (its CPU affinity).
    public static var availableCores: Int { Scheduler.availableCores }

    public var description: String { "spin \(spinMicroseconds) µs, yield \(yieldMicroseconds) µs, then sleep" }
}

/// Where a waiter is in its ``WaitPolicy``: the time it has gone without progress decides
/// whether it spins, yields or sleeps. Reset whenever something moves.
struct IdleTimer {
    enum Step { case spin, yield, sleep }

    private let spinNanoseconds: UInt64
    private let yieldUntilNanoseconds: UInt64
    private var since: UInt64 = 0

    init(_ policy: WaitPolicy) {
        spinNanoseconds = UInt64(policy.spinMicroseconds) &* 1000
        yieldUntilNanoseconds = spinNanoseconds &+ UInt64(policy.yieldMicroseconds) &* 1000
    }

    @inline(__always)
    mutating func reset() { since = 0 }

    /// What to do after a pass that moved nothing.
    @inline(__always)
    mutating func next(now: UInt64) -> Step {
        if since == 0 { since = now }
        let idle = now &- since
        if idle < spinNanoseconds { return .spin }
        if idle < yieldUntilNanoseconds { return .yield }
        return .sleep
    }
}

/// The wait loop every transport runs, over its own medium, with `lock` (the transport's) held.
///
/// Each pass settles the request, moves what can move, and checks the deadline; a pass that
/// moved nothing spins, yields (without the lock, so other threads of the process can post) or
/// sleeps as the policy says. Every `livenessInterval` it checks the peers (a medium that
/// notices dead peers by itself passes `.max`). When the deadline passes, `timedOut` makes the
/// error (it fails the transport, so that nothing queued can touch a caller's buffer later) and
/// the loop throws it. A caller whose request did not settle at once counts in `gauge` until it
/// returns.
@inline(__always)
func runWaitLoop(
    policy: WaitPolicy, deadline: Deadline, lock: ConditionLock, gauge: WaiterGauge, livenessInterval: UInt64 = 100_000_000,
    settle: () throws(TransportError) -> Bool,
    progress: () -> Bool,
    checkPeers: () -> Void = {},
    sleep: (_ nanoseconds: UInt64) -> Void,
    timedOut: () -> TransportError
) throws(TransportError) {
    if try settle() { return }
    gauge.enter()
    defer { gauge.leave() }
    var idle = IdleTimer(policy)
    var nextCheck = livenessInterval == .max ? UInt64.max : MonotonicClock.nanoseconds &+ livenessInterval
    while true {
        if try settle() { return }
        if progress() {
            idle.reset()
            continue
        }
        let now = MonotonicClock.nanoseconds
        if now >= deadline.uptimeNanoseconds {
            throw timedOut()
        }
        if now >= nextCheck {
            checkPeers()
            nextCheck = now &+ livenessInterval
            continue
        }
        switch idle.next(now: now) {
        case .spin:
            collectives_pause()
        case .yield:
            lock.unlock()
            Scheduler.yield()
            lock.lock()
        case .sleep:
            // Until the deadline or the next liveness check, whichever is first.
            let until = Swift.min(deadline.uptimeNanoseconds, nextCheck)
            sleep(until &- now)
        }
    }
}
