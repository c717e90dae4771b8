import Collectives
import Logging
import Testing

/// `COLLECTIVES_LOG_LEVEL` and `COLLECTIVES_LOG_SUBSYS` as levels per subsystem, and
/// `COLLECTIVES_LOG_FILE`'s pattern.
@Suite struct LogSettingsTests {
    typealias Subsystem = LogSettings.Subsystem

    func levels(_ environment: [String: String]) throws -> [Subsystem: Logger.Level] {
        let settings = try LogSettings(environment: environment)
        return Dictionary(uniqueKeysWithValues: Subsystem.allCases.map { ($0, settings.level(for: $0)) })
    }

    @Test func withoutASubsystemListEverySubsystemTakesTheLevel() throws {
        #expect(try levels([:]).values.allSatisfy { $0 == .info })
        #expect(try levels(["COLLECTIVES_LOG_LEVEL": "DEBUG"]).values.allSatisfy { $0 == .debug })
    }

    @Test func listedSubsystemsTakeTheLevelAndTheOthersOnlyWarn() throws {
        let chosen = try levels(["COLLECTIVES_LOG_LEVEL": "debug", "COLLECTIVES_LOG_SUBSYS": "transport, bootstrap"])
        #expect(chosen[.transport] == .debug && chosen[.bootstrap] == .debug)
        #expect(chosen[.collectives] == .warning && chosen[.rendezvous] == .warning && chosen[.tools] == .warning)
        let own = try levels(["COLLECTIVES_LOG_SUBSYS": "transport=trace,collectives"])
        #expect(own[.transport] == .trace && own[.collectives] == .info && own[.bootstrap] == .warning)
        #expect(try LogSettings(environment: ["COLLECTIVES_LOG_SUBSYS": "transport=trace"]).mostVerbose == .trace)
        #expect(try levels(["COLLECTIVES_LOG_LEVEL": "error", "COLLECTIVES_LOG_SUBSYS": "all"]).values.allSatisfy { $0 == .error })
    }

    @Test func aCaretLeavesTheListedOut() throws {
        let chosen = try levels(["COLLECTIVES_LOG_LEVEL": "trace", "COLLECTIVES_LOG_SUBSYS": "^transport,rendezvous"])
        #expect(chosen[.transport] == .warning && chosen[.rendezvous] == .warning)
        #expect(chosen[.bootstrap] == .trace && chosen[.collectives] == .trace && chosen[.training] == .trace)
    }

    @Test func badValuesAreNamed() {
        #expect(throws: LogSettings.Invalid.self) { try LogSettings(environment: ["COLLECTIVES_LOG_LEVEL": "loud"]) }
        #expect(throws: LogSettings.Invalid.self) { try LogSettings(environment: ["COLLECTIVES_LOG_SUBSYS": "net"]) }
        #expect(throws: LogSettings.Invalid.self) { try LogSettings(environment: ["COLLECTIVES_LOG_SUBSYS": "transport=loud"]) }
        #expect(throws: LogSettings.Invalid.self) { try LogSettings(environment: ["COLLECTIVES_LOG_SUBSYS": "^transport=debug"]) }
        do {
            _ = try LogSettings(environment: ["COLLECTIVES_LOG_SUBSYS": "net"])
        } catch {
            #expect(error.variable == "COLLECTIVES_LOG_SUBSYS" && error.value == "net")
        }
    }

    @Test func theSourceModuleNamesTheSubsystem() {
        #expect(Subsystem(source: "CollectivesTransport") == .transport)
        #expect(Subsystem(source: "CollectivesBootstrap") == .bootstrap)
        #expect(Subsystem(source: "Collectives") == .collectives)
        #expect(Subsystem(source: "DataParallel") == .training)
        #expect(Subsystem(source: "collectives_bench") == .tools)
    }
}
