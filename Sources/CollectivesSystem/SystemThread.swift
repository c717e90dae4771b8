#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A joinable operating-system thread, for the few places that must block outside Swift's
/// cooperative pool (store server connections, a communicator's worker).
public final class SystemThread: @unchecked Sendable {
    private var handle: pthread_t
    private var joined = false
    /// What the thread is for, for diagnostics.
    public let name: String

    private final class Box {
        let body: @Sendable () -> Void
        init(_ body: @escaping @Sendable () -> Void) { self.body = body }
    }

    /// Starts `body` on a new thread.
    public init(name: String, _ body: @escaping @Sendable () -> Void) {
        self.name = name
        let box = Unmanaged.passRetained(Box(body)).toOpaque()
        #if canImport(Glibc)
        var thread = pthread_t()
        #else
        var thread: pthread_t? = nil
        #endif
        let rc = pthread_create(&thread, nil, { raw in
            let box = Unmanaged<Box>.fromOpaque(raw!).takeRetainedValue()
            box.body()
            return nil
        }, box)
        precondition(rc == 0, "pthread_create failed: \(rc)")
        #if canImport(Glibc)
        handle = thread
        #else
        handle = thread!
        #endif
    }

    /// Waits for the thread to finish; later calls return at once. Called on the thread itself
    /// (its owner released there), it detaches instead of waiting for itself forever.
    public func join() {
        guard !joined else { return }
        joined = true
        if pthread_equal(pthread_self(), handle) != 0 {
            pthread_detach(handle)
            return
        }
        pthread_join(handle, nil)
    }
}
