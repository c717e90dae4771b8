import ArgumentParser
import Collectives
import Logging

#if canImport(Glibc)
import Glibc
#endif

extension Communicator {
    /// The communicator of a command run under a launcher; a configuration or rendezvous
    /// failure is printed as `program: reason` and exits with status 2.
    ///
    /// Logging goes to standard error at the level `COLLECTIVES_LOG_LEVEL` names (`trace`,
    /// `debug`, `info`, `notice`, `warning`, `error`, `critical`; default `info`).
    public static func forCommand(_ program: String) throws -> Communicator {
        bootstrapLogging(program)
        do {
            return try Communicator.fromEnvironment()
        } catch {
            Console.error("\(program): \(error)")
            throw ExitCode(2)
        }
    }
}

/// Sends swift-log's output to standard error at `COLLECTIVES_LOG_LEVEL`'s level.
public func bootstrapLogging(_ program: String) {
    var level = Logger.Level.info
    if let text = getenv("COLLECTIVES_LOG_LEVEL").map({ String(cString: $0) }) {
        if let parsed = Logger.Level(rawValue: text.lowercased()) {
            level = parsed
        } else {
            Console.error("\(program): COLLECTIVES_LOG_LEVEL=\(text) is not a level (trace, debug, info, notice, warning, error, critical); using info")
        }
    }
    let chosen = level
    LoggingSystem.bootstrap { label in
        var handler = StreamLogHandler.standardError(label: label)
        handler.logLevel = chosen
        return handler
    }
}
