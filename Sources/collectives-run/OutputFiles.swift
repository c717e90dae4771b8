import ArgumentParser
import CollectivesSystem

/// Each rank's standard output and error also written to files, without the launcher's prefix,
/// as `mpirun --output-filename DIR` does (OpenMPI's layout: `DIR/1/rank.N/stdout` and
/// `DIR/1/rank.N/stderr`) or `torchrun --log-dir DIR --tee 3` (`DIR/attempt_0/N/stdout.log`
/// and `stderr.log`). The terminal still gets every line.
struct OutputFiles {
    enum Layout {
        /// mpirun's `--output-filename`.
        case openMPI
        /// torchrun's `--log-dir` (by global rank, so that nodes sharing a file system do not clash).
        case torchrun
    }

    let directory: String
    var layout = Layout.openMPI
    /// Which streams get a file: standard output, standard error.
    var streams = (output: true, error: true)

    /// The folder of `rank`'s files.
    func folder(of rank: Int) -> String {
        switch layout {
        case .openMPI: directory + "/1/rank.\(rank)"
        case .torchrun: directory + "/attempt_0/\(rank)"
        }
    }

    private var fileNames: (output: String, error: String) {
        layout == .openMPI ? ("stdout", "stderr") : ("stdout.log", "stderr.log")
    }

    /// Makes `rank`'s folder and opens (truncating) its files: (stdout, stderr), -1 for a stream
    /// without one.
    func open(rank: Int) throws(SystemError) -> (output: Int32, error: Int32) {
        try makeFolders(folder(of: rank))
        let output = streams.output ? try create(folder(of: rank) + "/" + fileNames.output) : -1
        do {
            return (output, streams.error ? try create(folder(of: rank) + "/" + fileNames.error) : -1)
        } catch {
            Descriptors.close(output)
            throw error
        }
    }

    private func create(_ path: String) throws(SystemError) -> Int32 {
        do {
            return try FileSystem.openForWriting(path)
        } catch {
            throw SystemError(call: "open(\(path))", errno: error.cause.errno)
        }
    }

    /// `mkdir -p`: every missing folder of `path`.
    private func makeFolders(_ path: String) throws(SystemError) {
        var built = path.hasPrefix("/") ? "" : "."
        for part in path.split(separator: "/") {
            built += "/" + part
            do {
                try FileSystem.makeDirectory(built, mode: 0o755)
            } catch {
                throw SystemError(call: "mkdir(\(built))", errno: error.cause.errno)
            }
        }
    }
}

extension Launcher {
    /// Where ranks' output is written too: `--output-filename` or `--log-dir` with `--tee`.
    var outputFiles: OutputFiles? {
        if let outputFilename { return OutputFiles(directory: outputFilename) }
        guard let logDirectory else { return nil }
        let selected = tee ?? 3
        return OutputFiles(directory: logDirectory, layout: .torchrun, streams: (selected & 1 != 0, selected & 2 != 0))
    }

    func validateOutputFiles() throws {
        guard outputFilename == nil || logDirectory == nil else { throw ValidationError("give --output-filename or --log-dir, not both") }
        if let tee {
            guard logDirectory != nil else { throw ValidationError("--tee says which streams go to --log-dir's files: give --log-dir DIR") }
            guard (0...3).contains(tee) else { throw ValidationError("--tee takes 0 (none), 1 (stdout), 2 (stderr) or 3 (both), got \(tee)") }
        }
    }
}
