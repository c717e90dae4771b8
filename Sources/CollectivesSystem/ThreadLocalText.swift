#if canImport(Glibc)
import Glibc
#endif

/// A C string per thread, kept until the same thread sets the next one or exits: what a C
/// interface's "last error of this thread" call hands out.
package final class ThreadLocalText: @unchecked Sendable {
    private var key = pthread_key_t()

    package init() {
        pthread_key_create(&key) { free($0) }
    }

    /// Makes `text` this thread's string (the previous one is freed).
    package func set(_ text: String) {
        let previous = pthread_getspecific(key)
        pthread_setspecific(key, strdup(text))
        free(previous)
    }

    /// This thread's string, or `nil` before its first `set`.
    package var current: UnsafePointer<CChar>? {
        pthread_getspecific(key).map { UnsafePointer($0.assumingMemoryBound(to: CChar.self)) }
    }
}
