#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A joinable operating-system thread, for the few places that must block outside Swift's
/// cooperative pool (store server connections, a communicator's worker).
package final class SystemThread: @unchecked Sendable {
    private var handle: pthread_t
    /// Serializes `join()`: a second caller waits until the first has joined, and never joins
    /// the same thread twice (undefined behaviour in POSIX).
    private let joinLock = ConditionLock()
    private var joined = false
    /// What the thread is for, for diagnostics.
    package let name: String

    private final class Box {
        let body: @Sendable () -> Void
        init(_ body: @escaping @Sendable () -> Void) { self.body = body }
    }

    /// Starts `body` on a new thread, or throws when the system cannot make one (`EAGAIN` when
    /// out of threads or memory): a clear error instead of a trap.
    package init(starting name: String, _ body: @escaping @Sendable () -> Void) throws(SystemError) {
        self.name = name
        let box = Unmanaged.passRetained(Box(body))
        #if canImport(Glibc)
        var thread = pthread_t()
        #else
        var thread: pthread_t? = nil
        #endif
        let rc = pthread_create(&thread, nil, { raw in
            let box = Unmanaged<Box>.fromOpaque(raw!).takeRetainedValue()
            box.body()
            return nil
        }, box.toOpaque())
        guard rc == 0 else {
            box.release()
            throw SystemError(call: "pthread_create(\(name))", errno: rc)
        }
        #if canImport(Glibc)
        handle = thread
        #else
        handle = thread!
        #endif
    }

    /// Starts `body` on a new thread; traps when the system cannot make one. For tests and
    /// tools; the library uses ``init(starting:_:)``.
    package convenience init(name: String, _ body: @escaping @Sendable () -> Void) {
        do { try self.init(starting: name, body) } catch { fatalError("\(error)") }
    }

    /// Waits for the thread to finish; later calls, and calls from several threads at once,
    /// return once it has. Called on the thread itself (its owner released there), it detaches
    /// instead of waiting for itself forever.
    package func join() {
        joinLock.lock()
        defer { joinLock.unlock() }
        guard !joined else { return }
        joined = true
        if pthread_equal(pthread_self(), handle) != 0 {
            pthread_detach(handle)
            return
        }
        pthread_join(handle, nil)
    }
}

/// The calling thread's identity, never 0 (its `pthread_t`): equal on one thread, different on
/// two threads alive at once.
@inlinable
package var currentThreadID: UInt { UInt(bitPattern: Int(bitPattern: UInt(pthread_self()))) }
