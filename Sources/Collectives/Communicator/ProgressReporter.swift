import CollectivesRendezvous
import CollectivesSystem
import Synchronization

/// Publishes, about once a second, the sequence number of the last collective this rank
/// reached (`progress/<rank>` in the rendezvous store), so that a rank whose collective times
/// out can say which ranks never reached it. One small store write per second at most, and
/// none while nothing changes.
final class ProgressReporter: @unchecked Sendable {
    private let store: any Store
    private let rank: Int
    private let worldSize: Int
    private let latest = Atomic<UInt64>(0)
    private let lock = ConditionLock()
    private var stopping = false
    private var thread: SystemThread?

    init(store: any Store, rank: Int, worldSize: Int) {
        self.store = store
        self.rank = rank
        self.worldSize = worldSize
        // Progress reports are diagnostics: without a thread for them, the job runs without.
        thread = try? SystemThread(starting: "collectives-progress") { [self] in run() }
    }

    /// Records that this rank has started collective `sequence`.
    func reached(_ sequence: UInt64) { latest.store(sequence, ordering: .relaxed) }

    private func run() {
        var published: UInt64 = 0
        lock.lock()
        while !stopping {
            _ = lock.wait(until: .after(seconds: 1))
            if stopping { break }
            let now = latest.load(ordering: .relaxed)
            guard now != published else { continue }
            lock.unlock()
            let ok = (try? store.set(StoreKeys.progress(rank), string: String(now))) != nil
            lock.lock()
            if ok { published = now }
        }
        lock.unlock()
    }

    /// Which ranks have not reached collective `sequence`, by their last published sequence
    /// numbers; `nil` if the store cannot say.
    func laggards(before sequence: UInt64) -> [(rank: Int, reached: UInt64)]? {
        var behind: [(Int, UInt64)] = []
        for peer in 0..<worldSize where peer != rank {
            // A store that cannot answer says nothing about the peer (it must not read as "reached
            // nothing", which would blame a healthy rank).
            guard let published = try? store.check([StoreKeys.progress(peer)]) else { return nil }
            let text = published ? (try? store.getString(StoreKeys.progress(peer), deadline: .after(seconds: 2))) : "0"
            guard let text, let value = UInt64(text) else { return nil }
            if value < sequence { behind.append((peer, value)) }
        }
        return behind
    }

    /// Records, before this rank closes its connections, that it failed and which rank's loss
    /// started it (`failed/<rank>`), so that a peer that then sees it close can name that rank
    /// rather than this one, with the description of the failure that started it. A
    /// diagnostic: a store that cannot take it changes nothing else.
    func recordFailure(firstFailed: Int?, _ description: String) {
        let root = firstFailed.map(String.init) ?? ""
        _ = try? store.set(StoreKeys.failed(rank), string: root + "\n" + description)
    }

    /// What `peer` recorded when it failed, if it did (a peer that died records nothing): the
    /// rank whose loss started its failure, if it knew one, and its error.
    func failure(of peer: Int) -> (firstFailed: Int?, description: String)? {
        guard (try? store.check([StoreKeys.failed(peer)])) == true,
              let text = try? store.getString(StoreKeys.failed(peer), deadline: .after(seconds: 2)),
              let newline = text.firstIndex(of: "\n") else { return nil }
        return (Int(text[..<newline]), String(text[text.index(after: newline)...]))
    }

    func stop() {
        let worker: SystemThread? = lock.withLock {
            stopping = true
            lock.broadcast()
            return thread
        }
        worker?.join()
    }
}
