import CollectivesSystem

#if canImport(Glibc)
import Glibc
#endif

/// Each rank's standard output and error also written to files, as `mpirun --output-filename
/// DIR` does (OpenMPI's layout: `DIR/1/rank.N/stdout` and `DIR/1/rank.N/stderr`), without the
/// launcher's prefix. The terminal still gets every line.
struct OutputFiles {
    let directory: String

    /// The folder of `rank`'s files.
    func folder(of rank: Int) -> String { directory + "/1/rank.\(rank)" }

    /// Makes `rank`'s folder and opens (truncating) its two files: (stdout, stderr).
    func open(rank: Int) throws(SystemError) -> (output: Int32, error: Int32) {
        try makeFolders(folder(of: rank))
        let output = try create(folder(of: rank) + "/stdout")
        do {
            return (output, try create(folder(of: rank) + "/stderr"))
        } catch {
            _ = close(output)
            throw error
        }
    }

    private func create(_ path: String) throws(SystemError) -> Int32 {
        let descriptor = Glibc.open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o644)
        guard descriptor >= 0 else { throw SystemError(call: "open(\(path))", errno: errno) }
        return descriptor
    }

    /// `mkdir -p`: every missing folder of `path`.
    private func makeFolders(_ path: String) throws(SystemError) {
        var built = path.hasPrefix("/") ? "" : "."
        for part in path.split(separator: "/") {
            built += "/" + part
            if mkdir(built, 0o755) != 0 && errno != EEXIST {
                throw SystemError(call: "mkdir(\(built))", errno: errno)
            }
        }
    }
}
