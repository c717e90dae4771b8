import CollectivesRendezvous
import CollectivesSystem
import Logging

/// swift-log's handler for the library's programs, and for any program that wants the library's
/// settings: per-subsystem levels (``LogSettings``), standard error or a file per rank
/// (`COLLECTIVES_LOG_FILE`), and lines as swift-log's stream handler writes them
/// (`2026-12-05T19:02:11+0000 notice collectives: communicator=0 rank=3 [Collectives] …`).
///
/// ```swift
/// try CollectivesLogHandler.bootstrapFromEnvironment()   // once, before the first Logger
/// ```
public struct CollectivesLogHandler: LogHandler {
    public var metadata: Logger.Metadata = [:]
    public var metadataProvider: Logger.MetadataProvider?
    /// What the `Logger` lets through: the most verbose subsystem's level; the handler then
    /// keeps a message only from its own subsystem's level up.
    public var logLevel: Logger.Level
    private let label: String
    private let settings: LogSettings
    private let output: LogOutput

    init(label: String, settings: LogSettings, output: LogOutput) {
        self.label = label
        self.settings = settings
        self.output = output
        logLevel = settings.mostVerbose
    }

    public subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    public func log(event: LogEvent) {
        guard event.level >= settings.level(for: LogSettings.Subsystem(source: event.source)) else { return }
        var all = metadata
        if let provided = metadataProvider?.get() { all.merge(provided) { _, new in new } }
        if let explicit = event.metadata { all.merge(explicit) { _, new in new } }
        let pretty = all.isEmpty ? "" : " " + all.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }.joined(separator: " ")
        output.write("\(LogOutput.timestamp()) \(event.level) \(label):\(pretty) [\(event.source)] \(event.message)\n")
    }

    /// Why logging could not be set up as the environment asks.
    public enum SetUpError: Error, CustomStringConvertible {
        case invalidSetting(LogSettings.Invalid)
        /// `COLLECTIVES_LOG_FILE`'s file (after `%r`, `%p`, `%h`) cannot be opened.
        case cannotOpen(path: String, cause: SystemError)

        public var description: String {
            switch self {
            case .invalidSetting(let invalid): return invalid.description
            case .cannotOpen(let path, let cause): return "COLLECTIVES_LOG_FILE: cannot open \(path): \(cause)"
            }
        }
    }

    /// Makes this the handler of every `Logger` (`LoggingSystem.bootstrap`, which a process may
    /// do once), set from `COLLECTIVES_LOG_LEVEL`, `COLLECTIVES_LOG_SUBSYS` and
    /// `COLLECTIVES_LOG_FILE` (`%r` the rank its launcher gave, `%p` the process id, `%h` the
    /// host name, `%%` a percent sign). Invalid settings throw, and nothing is bootstrapped.
    public static func bootstrapFromEnvironment() throws(SetUpError) {
        try bootstrapFromEnvironment(ProcessEnvironment.current())
    }

    /// Like ``bootstrapFromEnvironment()``, with the settings read from `environment`.
    public static func bootstrapFromEnvironment(_ environment: [String: String]) throws(SetUpError) {
        let settings: LogSettings
        do {
            settings = try LogSettings(environment: environment)
        } catch {
            throw .invalidSetting(error)
        }
        var output = LogOutput.standardError
        if let pattern = environment[EnvironmentVariable.logFile.name], !pattern.isEmpty {
            let path = logFilePath(pattern, environment: environment)
            do {
                output = try LogOutput.appending(to: path)
            } catch {
                throw .cannotOpen(path: path, cause: error)
            }
        }
        let chosen = output
        LoggingSystem.bootstrap { label in CollectivesLogHandler(label: label, settings: settings, output: chosen) }
    }

    /// `pattern` with `%r`, `%p`, `%h` and `%%` replaced.
    static func logFilePath(_ pattern: String, environment: [String: String]) -> String {
        let rank = LaunchConfiguration.launcherRank(in: environment) ?? "norank"
        var path = ""
        var escaped = false
        for character in pattern {
            if escaped {
                switch character {
                case "r": path += rank
                case "p": path += String(thisProcessID)
                case "h": path += thisHostName()
                default: path.append(character)
                }
                escaped = false
            } else if character == "%" {
                escaped = true
            } else {
                path.append(character)
            }
        }
        return escaped ? path + "%" : path
    }
}
