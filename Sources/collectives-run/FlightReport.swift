import Collectives
import CollectivesSystem
import CommandLineSupport

/// The launcher's side of the flight recorder: where its ranks dump, asking them to (`SIGUSR1`),
/// and saying what the dumps show (``FlightAnalysis``).
struct FlightReport {
    /// Where the ranks write their dumps.
    let directory: String
    /// Dumps older than this (nanoseconds since the epoch) are from earlier jobs and are ignored.
    let since: UInt64
    /// Whether a failing rank makes the launcher ask the others for their dumps.
    let onFailure: Bool

    /// Reads the dumps in `directory` written since `since` and prints the analysis on standard
    /// error. Returns whether there was any dump to analyse.
    @discardableResult
    static func analyze(_ directory: String, since: UInt64) -> Bool {
        let dumps: [FlightDump]
        do {
            dumps = try FlightDump.readAll(from: directory).filter { $0.dumpedNanoseconds >= since }
        } catch {
            Console.error("collectives-run: cannot read the flight-recorder dumps in \(directory): \(error)")
            return false
        }
        guard !dumps.isEmpty else {
            Console.error("collectives-run: no flight-recorder dump in \(directory)")
            return false
        }
        Console.error("collectives-run: flight recorder, \(dumps.count) dump\(dumps.count == 1 ? "" : "s") in \(directory):")
        for line in FlightAnalysis(dumps).report { Console.error("collectives-run: " + line) }
        return true
    }

    func analyze() { Self.analyze(directory, since: since) }
}

extension Launcher {
    /// The flight-recorder settings of this launch; sets the ranks' dump folder in `environment`
    /// when `--dump-dir` is given.
    func flightReport(_ environment: inout [String: String]) -> FlightReport {
        if let dumpDirectory { environment[EnvironmentVariable.flightRecorderDirectory.name] = dumpDirectory }
        let directory = environment[EnvironmentVariable.flightRecorderDirectory.name].flatMap { $0.isEmpty ? nil : $0 } ?? "/tmp"
        // A second's slack: the coarse clock the ranks stamp with runs up to a tick behind.
        return FlightReport(directory: directory, since: WallClock.nanosecondsSinceEpoch - 1_000_000_000, onFailure: dumpOnTimeout)
    }
}
