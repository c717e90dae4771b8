import CollectivesSystem

/// Output helpers shared by the executables.
///
/// Lines go straight to the file descriptor, not through stdio's buffer: under a launcher
/// standard output is a pipe, where stdio would hold lines back and reorder them with
/// progress redraws.
package enum Console {
    /// Writes `text` to standard output as it is.
    package static func write(_ text: String) {
        writeAll(1, text)
    }

    /// Writes a line to standard output.
    package static func say(_ text: String) { writeAll(1, text + "\n") }

    /// Writes a line to standard error.
    package static func error(_ text: String) { writeAll(2, text + "\n") }

    private static func writeAll(_ descriptor: Int32, _ text: String) {
        var text = text
        text.withUTF8 { _ = Descriptors.writeAll(descriptor, UnsafeRawBufferPointer($0)) }
    }

    /// Whether standard output is a terminal, or a launcher's output that is one
    /// (`COLLECTIVES_STDOUT_IS_TERMINAL=1`, set by collectives-run).
    package static var standardOutputIsTerminal: Bool {
        Descriptors.isTerminal(1) || EnvironmentVariable.stdoutIsTerminal.value == "1"
    }
}

/// `value` with exactly `decimals` digits after the point (no Foundation formatter needed).
package func fixed(_ value: Double, _ decimals: Int) -> String {
    guard value.isFinite else { return String(value) }
    var scale = 1.0
    for _ in 0..<decimals { scale *= 10 }
    let scaled = (abs(value) * scale).rounded()
    let whole = Int(scaled / scale)
    var text = (value < 0 && scaled > 0 ? "-" : "") + String(whole)
    if decimals > 0 {
        let fraction = Int(scaled - Double(whole) * scale)
        let digits = String(fraction)
        text += "." + String(repeating: "0", count: decimals - digits.count) + digits
    }
    return text
}

/// `text` right-aligned in `width` columns.
package func pad(_ text: String, _ width: Int) -> String {
    String(repeating: " ", count: max(0, width - text.count)) + text
}
