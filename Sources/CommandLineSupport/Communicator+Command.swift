import ArgumentParser
import Collectives
import CollectivesSystem
import Logging


extension Communicator {
    /// The communicator of a command run under a launcher; a configuration or rendezvous
    /// failure is printed as `program: reason` and exits with status 2.
    ///
    /// Logging goes to standard error at the level `COLLECTIVES_LOG_LEVEL` names (`trace`,
    /// `debug`, `info`, `notice`, `warning`, `error`, `critical`; default `info`).
    ///
    /// Under `collectives-run --join` (`COLLECTIVES_ELASTIC_JOIN=1`) the process joins a running
    /// elastic job instead (`Communicator.joinFromEnvironment`), waiting up to
    /// `COLLECTIVES_JOIN_TIMEOUT` seconds (default 600) to be admitted.
    package static func forCommand(_ program: String, joinSettings: [String: String] = [:]) throws -> Communicator {
        bootstrapLogging(program)
        do {
            let environment = ProcessEnvironment.current()
            if environment[EnvironmentVariable.elasticJoin.name] == "1" {
                var seconds = 600.0
                if let text = environment[EnvironmentVariable.joinTimeout.name] {
                    guard let value = Double(text), value > 0, value <= 1e9 else {
                        Console.error("\(program): COLLECTIVES_JOIN_TIMEOUT=\(text) is not a positive number of seconds")
                        throw ExitCode(2)
                    }
                    seconds = value
                }
                return try Communicator.joinFromEnvironment(timeout: Duration(seconds: seconds), settings: joinSettings)
            }
            return try Communicator.fromEnvironment()
        } catch let exit as ExitCode {
            throw exit
        } catch {
            Console.error("\(program): \(error)")
            throw ExitCode(2)
        }
    }
}

/// Sets up swift-log for a program of this package: ``CollectivesLogHandler`` from
/// `COLLECTIVES_LOG_LEVEL`, `COLLECTIVES_LOG_SUBSYS` and `COLLECTIVES_LOG_FILE`. A setting it
/// cannot use is said on standard error, and the program logs at `info` to standard error.
package func bootstrapLogging(_ program: String) {
    do {
        try CollectivesLogHandler.bootstrapFromEnvironment()
    } catch {
        Console.error("\(program): \(error); logging at info to standard error")
        try? CollectivesLogHandler.bootstrapFromEnvironment([:])
    }
}
