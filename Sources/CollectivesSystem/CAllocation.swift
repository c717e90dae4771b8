#if canImport(Glibc)
import Glibc
#endif

/// Frees memory a C caller allocated with `malloc` and handed over (a C interface's contract).
package func freeCAllocation(_ pointer: UnsafeMutableRawPointer?) { free(pointer) }
