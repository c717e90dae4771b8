import Logging
import CollectivesSystem

/// Which messages the library's log handler keeps: a level per subsystem, from
/// `COLLECTIVES_LOG_LEVEL` and `COLLECTIVES_LOG_SUBSYS` (as NCCL's `NCCL_DEBUG` and
/// `NCCL_DEBUG_SUBSYS`).
///
/// `COLLECTIVES_LOG_SUBSYS` is a comma-separated list of subsystems, each optionally with its own
/// level (`transport=trace`); the listed ones log at their level (else `COLLECTIVES_LOG_LEVEL`'s),
/// the others only from `warning` up. A leading `^` turns it around: every subsystem but the
/// listed ones logs at `COLLECTIVES_LOG_LEVEL`. Unset, every subsystem logs at that level.
public struct LogSettings: Sendable, Equatable {
    /// The library's subsystems: where a message comes from.
    package enum Subsystem: String, Sendable, CaseIterable {
        /// Communicators and their algorithms (module `Collectives`).
        case collectives
        /// Rendezvous and set-up of the connections (`CollectivesBootstrap`).
        case bootstrap
        /// TCP, shared memory, RDMA (`CollectivesTransport`).
        case transport
        /// Stores (`CollectivesRendezvous`).
        case rendezvous
        /// The data-parallel trainer (`DataParallel`).
        case training
        /// The programs: `collectives-run`, `collectives-bench`, `mnist-train`, …
        case tools

        /// The subsystem of a message from swift-log `source` (the module that logged it).
        package init(source: String) {
            switch source {
            case "Collectives": self = .collectives
            case "CollectivesBootstrap": self = .bootstrap
            case "CollectivesTransport": self = .transport
            case "CollectivesRendezvous": self = .rendezvous
            case "DataParallel": self = .training
            default: self = .tools
            }
        }
    }

    /// The level of subsystems not given one of their own.
    package var level: Logger.Level
    /// Levels of their own.
    package var levels: [Subsystem: Logger.Level]

    package init(level: Logger.Level = .info, levels: [Subsystem: Logger.Level] = [:]) {
        self.level = level
        self.levels = levels
    }

    /// The level `subsystem` logs from.
    package func level(for subsystem: Subsystem) -> Logger.Level { levels[subsystem] ?? level }

    /// The most verbose level of any subsystem: what a `Logger` must let through to the handler.
    package var mostVerbose: Logger.Level { ([level] + levels.values).min() ?? level }

    /// Why a `COLLECTIVES_LOG_*` value cannot be used.
    public struct Invalid: Error, Equatable, CustomStringConvertible {
        public let variable: String
        public let value: String
        public let expected: String
        public var description: String { "\(variable)=\(value) is invalid: expected \(expected)" }
    }

    /// The settings `COLLECTIVES_LOG_LEVEL` and `COLLECTIVES_LOG_SUBSYS` give.
    package init(environment: [String: String]) throws(Invalid) {
        let levelNames = Logger.Level.allCases.map(\.rawValue).joined(separator: ", ")
        var base = Logger.Level.info
        if let text = environment[EnvironmentVariable.logLevel.name], !text.isEmpty {
            guard let parsed = Logger.Level(rawValue: text.lowercased()) else {
                throw Invalid(variable: EnvironmentVariable.logLevel.name, value: text, expected: "one of \(levelNames)")
            }
            base = parsed
        }
        guard var text = environment[EnvironmentVariable.logSubsystems.name], !text.isEmpty else {
            self.init(level: base)
            return
        }
        let excluding = text.hasPrefix("^")
        if excluding { text.removeFirst() }
        var named: [Subsystem: Logger.Level] = [:]
        let subsystemNames = Subsystem.allCases.map(\.rawValue).joined(separator: ", ")
        for item in text.split(separator: ",").map({ String($0.filter { $0 != " " }) }) where !item.isEmpty {
            let parts = item.split(separator: "=", maxSplits: 1).map(String.init)
            let words = parts[0].lowercased() == "all" ? Subsystem.allCases : [Subsystem(rawValue: parts[0].lowercased())].compactMap { $0 }
            guard !words.isEmpty else {
                throw Invalid(variable: EnvironmentVariable.logSubsystems.name, value: environment[EnvironmentVariable.logSubsystems.name]!,
                              expected: "subsystems among \(subsystemNames) or all, each optionally =LEVEL, or ^ and subsystems to leave out")
            }
            var level = base
            if parts.count == 2 {
                guard !excluding, let parsed = Logger.Level(rawValue: parts[1].lowercased()) else {
                    throw Invalid(variable: EnvironmentVariable.logSubsystems.name, value: environment[EnvironmentVariable.logSubsystems.name]!,
                                  expected: "a level (\(levelNames)) after = and no ^")
                }
                level = parsed
            }
            for subsystem in words { named[subsystem] = level }
        }
        if excluding {
            self.init(level: base, levels: named.mapValues { _ in max(base, .warning) })
        } else {
            self.init(level: max(base, .warning), levels: named)
        }
    }
}
