import CCollectivesAtomics
import CollectivesSystem
import CollectivesTransport
import Synchronization

/// A communicator's last calls, kept in a ring so that a job that hangs or times out can say
/// what each rank was doing (PyTorch's flight recorder does this for NCCL).
///
/// A call is recorded when its messages are first set up (``begin(_:)``), marked done when the
/// communicator's queue finishes it (``end()``), or failed with the peer and error that ended it
/// (``fail(peer:error:)``).
///
/// Cheap enough to stay on: calls run one at a time per communicator, so there is one writer,
/// which takes no lock. It stores a call's tag (three words: number, kind, type, operation,
/// algorithm, root, count), state and times in atomics, bracketed by a sequence counter that
/// is odd while it writes; a dump (another thread) copies the ring and copies again if the
/// counter moved. Times come from the coarse clock, to a clock tick (a few milliseconds).
package final class FlightRecorder: @unchecked Sendable {
    /// The words of one call in ``words``: its tag's three, its times, its state (0 empty, 1
    /// running, 2 done, 3 failed).
    private enum Word: Int {
        case value, call, count, started, ended, state
        static let perSlot = 6
    }

    /// Which communicator of this process (0 for the first made, as every rank makes them in
    /// the same order), its rank and size.
    package let communicator: Int
    package let rank: Int
    package let worldSize: Int
    /// Where dumps are written.
    let directory: String
    private let capacity: UInt64
    /// The ring: `capacity` slots of ``Word/perSlot`` words, read and written atomically.
    private let words: UnsafeMutablePointer<UInt64>
    /// Calls begun so far: the current call is in slot `(begun − 1) mod capacity`.
    private let begun = Atomic<UInt64>(0)
    /// Odd while the writer changes a slot.
    private let version = Atomic<UInt64>(0)
    /// The failed call's number, peer and error (at most one: a communicator fails once).
    private let failure = LockedValue<(sequence: UInt64, peer: Int?, error: String)?>(nil)
    /// Why this recorder's file was last written, if it was: one dump written at a time.
    private let written = LockedValue<FlightDump.Reason?>(nil)

    package init(communicator: Int, rank: Int, worldSize: Int, capacity: Int, directory: String) {
        self.communicator = communicator
        self.rank = rank
        self.worldSize = worldSize
        self.directory = directory
        self.capacity = UInt64(max(capacity, 1))
        let total = max(capacity, 1) * Word.perSlot
        words = .allocate(capacity: total)
        words.initialize(repeating: 0, count: total)
    }

    deinit { words.deallocate() }

    @inline(__always)
    private func load(_ slot: UInt64, _ word: Word) -> UInt64 {
        collectives_load_relaxed_u64(words + Int(slot) * Word.perSlot + word.rawValue)
    }

    @inline(__always)
    private func store(_ slot: UInt64, _ word: Word, _ value: UInt64) {
        collectives_store_relaxed_u64(words + Int(slot) * Word.perSlot + word.rawValue, value)
    }

    /// The slot of the call begun last, if any.
    @inline(__always)
    private var currentSlot: UInt64? {
        let count = begun.load(ordering: .relaxed)
        return count == 0 ? nil : (count - 1) % capacity
    }

    /// Runs `change` as the writer, with the version odd around it.
    @inline(__always)
    private func writing(_ change: () -> Void) {
        let before = version.load(ordering: .relaxed)
        version.store(before &+ 1, ordering: .relaxed)
        atomicMemoryFence(ordering: .releasing)
        change()
        version.store(before &+ 2, ordering: .releasing)
    }

    /// Records that the call of `tag` has started (a second exchange of the same call adds nothing).
    package func begin(_ tag: MessageTag) {
        if let slot = currentSlot, load(slot, .value) == tag.value, load(slot, .state) == 1 { return }
        let now = WallClock.coarseNanosecondsSinceEpoch
        let next = begun.load(ordering: .relaxed)
        let slot = next % capacity
        writing {
            store(slot, .value, tag.value)
            store(slot, .call, tag.call)
            store(slot, .count, tag.count)
            store(slot, .started, now)
            store(slot, .ended, 0)
            store(slot, .state, 1)
            begun.store(next + 1, ordering: .relaxed)
        }
    }

    /// Marks the call in progress done, if one is.
    package func end() {
        guard let slot = currentSlot, load(slot, .state) == 1 else { return }
        let now = WallClock.coarseNanosecondsSinceEpoch
        writing {
            store(slot, .ended, now)
            store(slot, .state, 2)
        }
    }

    /// Marks the call in progress failed, waiting on `peer` if the failure names one.
    package func fail(peer: Int?, error: String) {
        guard let slot = currentSlot, load(slot, .state) == 1 else { return }
        let now = WallClock.coarseNanosecondsSinceEpoch
        let sequence = load(slot, .value)
        failure.withLock { $0 = (sequence, peer, error) }
        writing {
            store(slot, .ended, now)
            store(slot, .state, 3)
        }
    }

    /// The records, oldest first: a copy taken while the writer was not changing the ring
    /// (after a thousand tries, whatever was read).
    package func records() -> [FlightRecord] {
        var copied: [(tag: MessageTag, started: UInt64, ended: UInt64, state: UInt64)] = []
        for _ in 0..<1000 {
            let before = version.load(ordering: .acquiring)
            copied = copyRing()
            atomicMemoryFence(ordering: .acquiring)
            if before & 1 == 0 && version.load(ordering: .relaxed) == before { break }
        }
        let failed = failure.withLock { $0 }
        return copied.compactMap { entry in
            guard let call = CallDescriptor(entry.tag), let state = FlightRecord.State(code: entry.state) else { return nil }
            let failure = state == .failed && failed?.sequence == entry.tag.value ? failed : nil
            return FlightRecord(call, state: state, started: entry.started, ended: entry.ended, peer: failure?.peer, error: failure?.error)
        }
    }

    private func copyRing() -> [(tag: MessageTag, started: UInt64, ended: UInt64, state: UInt64)] {
        let count = begun.load(ordering: .relaxed)
        let first = count > capacity ? count - capacity : 0
        return (first..<count).map { index in
            let slot = index % capacity
            return (MessageTag(load(slot, .value), call: load(slot, .call), count: load(slot, .count)),
                    load(slot, .started), load(slot, .ended), load(slot, .state))
        }
    }

    /// What this recorder holds, as a dump for `reason`.
    package func dump(reason: FlightDump.Reason) -> FlightDump {
        FlightDump(communicator: communicator, rank: rank, worldSize: worldSize, host: thisHostName(), pid: thisProcessID,
                   reason: reason, dumpedNanoseconds: WallClock.nanosecondsSinceEpoch, calls: records())
    }

    /// Writes this recorder's dump into ``directory``, one writer at a time; returns its path.
    ///
    /// A signal's dump does not replace a timeout's: a timed-out communicator starts no call, so
    /// the calls are the same, and the file keeps saying that this rank stopped by timing out
    /// (the launcher signals every rank when one fails, often after the others have timed out).
    package func writeDump(reason: FlightDump.Reason) throws -> String {
        try written.withLock { earlier in
            let path = directory + "/" + FlightDump.fileName(communicator: communicator, rank: rank)
            if reason == .signal && earlier == .timeout { return path }
            try dump(reason: reason).write(to: directory)
            earlier = reason
            return path
        }
    }
}

extension FlightRecord.State {
    init?(code: UInt64) {
        switch code {
        case 1: self = .running
        case 2: self = .done
        case 3: self = .failed
        default: return nil
        }
    }
}

extension FlightRecord {
    init(_ call: CallDescriptor, state: State, started: UInt64, ended: UInt64, peer: Int?, error: String?) {
        self.init(sequence: call.sequence, operation: call.kindName, dataType: call.dataType.map { "\($0)" },
                  count: call.count, op: call.op.map { "\($0)" }, root: call.root, algorithm: call.algorithm?.rawValue,
                  state: state, startedNanoseconds: started, endedNanoseconds: ended == 0 ? nil : ended, peer: peer, error: error)
    }
}
