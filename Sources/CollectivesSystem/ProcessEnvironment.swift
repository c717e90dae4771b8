#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// The process's environment variables, read without Foundation.
package enum ProcessEnvironment {
    /// Every variable of the current process.
    package static func current() -> [String: String] {
        var result: [String: String] = [:]
        #if canImport(Glibc)
        var pointer = environ
        #else
        var pointer = NSGetEnviron().pointee!
        #endif
        while let entry = pointer.pointee {
            let text = String(cString: entry)
            if let equals = text.firstIndex(of: "=") {
                result[String(text[..<equals])] = String(text[text.index(after: equals)...])
            }
            pointer += 1
        }
        return result
    }
}
