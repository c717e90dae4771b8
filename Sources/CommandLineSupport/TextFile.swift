import CollectivesSystem

/// A file that could not be written, with the path and the system's reason.
package struct FileWriteError: Error, CustomStringConvertible {
    package let description: String
    package init(_ description: String) { self.description = description }
}

/// Writes `contents` to `path`, replacing it.
package func writeTextFile(_ path: String, _ contents: String) throws(FileWriteError) {
    try writeTextFile(path, contents, mode: "w")
}

/// Appends `contents` to the file at `path` (made if missing).
package func appendTextFile(_ path: String, _ contents: String) throws(FileWriteError) {
    try writeTextFile(path, contents, mode: "a")
}

private func writeTextFile(_ path: String, _ contents: String, mode: String) throws(FileWriteError) {
    do {
        try FileSystem.write(contents, to: path, appending: mode == "a")
    } catch {
        throw FileWriteError("cannot write \(path): \(error.cause.message)")
    }
}
