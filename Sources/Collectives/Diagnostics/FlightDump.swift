import CollectivesSystem
import Foundation
import Synchronization

/// One call in a flight-recorder dump.
package struct FlightRecord: Codable, Sendable, Equatable {
    /// What became of a call.
    package enum State: String, Codable, Sendable {
        /// Started and not finished when the dump was written: the call a hung rank is in.
        case running
        case done
        case failed
    }

    /// The communicator's call number, the same on every rank for the same call.
    package var sequence: UInt64
    /// `all-reduce`, `broadcast`, …
    package var operation: String
    package var dataType: String?
    package var count: Int
    package var op: String?
    package var root: Int?
    package var algorithm: String?
    package var state: State
    /// Wall-clock times, nanoseconds since the epoch.
    package var startedNanoseconds: UInt64
    package var endedNanoseconds: UInt64?
    /// The peer the call was waiting on when it failed, where the failure names one.
    package var peer: Int?
    package var error: String?

    package init(sequence: UInt64, operation: String, dataType: String? = nil, count: Int = 0, op: String? = nil, root: Int? = nil,
                 algorithm: String? = nil, state: State, startedNanoseconds: UInt64 = 0, endedNanoseconds: UInt64? = nil,
                 peer: Int? = nil, error: String? = nil) {
        self.sequence = sequence
        self.operation = operation
        self.dataType = dataType
        self.count = count
        self.op = op
        self.root = root
        self.algorithm = algorithm
        self.state = state
        self.startedNanoseconds = startedNanoseconds
        self.endedNanoseconds = endedNanoseconds
        self.peer = peer
        self.error = error
    }

    /// `all-reduce #7 (1000 × float32, sum, ring)`.
    package var title: String {
        callTitle(operation, sequence, count: count, dataType: dataType, op: op, root: root, algorithm: algorithm)
    }
}

/// What one rank's flight recorder held for one communicator when it was dumped: written as
/// JSON to `collectives-flight-c<communicator>-rank<rank>.json` in the dump folder.
package struct FlightDump: Codable, Sendable {
    package var version = 1
    package var communicator: Int
    package var rank: Int
    package var worldSize: Int
    package var host: String
    package var pid: Int32
    /// Why it was written.
    package var reason: Reason
    package var dumpedNanoseconds: UInt64
    /// Oldest first.
    package var calls: [FlightRecord]

    package init(communicator: Int, rank: Int, worldSize: Int, host: String, pid: Int32, reason: Reason,
                 dumpedNanoseconds: UInt64, calls: [FlightRecord]) {
        self.communicator = communicator
        self.rank = rank
        self.worldSize = worldSize
        self.host = host
        self.pid = pid
        self.reason = reason
        self.dumpedNanoseconds = dumpedNanoseconds
        self.calls = calls
    }

    /// Why a dump was written.
    package enum Reason: String, Codable, Sendable {
        /// A call of this rank timed out.
        case timeout
        /// The process got `SIGUSR1` (from a user or from `collectives-run`).
        case signal
        /// The program asked for it.
        case request
    }

    package static func fileName(communicator: Int, rank: Int) -> String { "collectives-flight-c\(communicator)-rank\(rank).json" }

    package func encoded() throws -> Data {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        return try encoder.encode(self)
    }

    package static func decode(_ data: Data) throws -> FlightDump { try JSONDecoder().decode(FlightDump.self, from: data) }

    /// Writes the dump into `directory` (made if missing), replacing an earlier one whole.
    /// Returns the file's path.
    @discardableResult
    package func write(to directory: String) throws -> String {
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        let path = directory + "/" + Self.fileName(communicator: communicator, rank: rank)
        try encoded().write(to: URL(fileURLWithPath: path), options: .atomic)
        return path
    }

    /// Every dump in `directory`, by communicator and rank.
    package static func readAll(from directory: String) throws -> [FlightDump] {
        let names = try FileManager.default.contentsOfDirectory(atPath: directory)
            .filter { $0.hasPrefix("collectives-flight-") && $0.hasSuffix(".json") }
        return try names.map { try decode(Data(contentsOf: URL(fileURLWithPath: directory + "/" + $0))) }
            .sorted { ($0.communicator, $0.rank) < ($1.communicator, $1.rank) }
    }
}

/// The flight recorders of this process's open communicators, so that a signal or a timeout
/// dumps all of them.
package enum FlightRecorders {
    private final class Weak: @unchecked Sendable {
        weak var recorder: FlightRecorder?
        init(_ recorder: FlightRecorder) { self.recorder = recorder }
    }

    private static let registered = LockedValue<[Weak]>([])
    private static let nextCommunicator = Atomic<Int>(0)

    /// A number for the next communicator of this process.
    static func takeCommunicatorNumber() -> Int { nextCommunicator.add(1, ordering: .relaxed).oldValue }

    /// Keeps `recorder` for dumps while it lives; the first also installs the `SIGUSR1` handler
    /// (where the program has none) that dumps them all.
    static func register(_ recorder: FlightRecorder) {
        registered.withLock { list in
            list.removeAll { $0.recorder == nil }
            list.append(Weak(recorder))
        }
        DumpSignal.install { FlightRecorders.dumpAll(reason: .signal) }
    }

    /// Writes every live recorder's dump into its folder; returns the paths written. A dump that
    /// cannot be written is said on standard error (a diagnostic: nothing else depends on it).
    @discardableResult
    package static func dumpAll(reason: FlightDump.Reason) -> [String] {
        let recorders = registered.withLock { $0.compactMap(\.recorder) }
        return recorders.compactMap { write($0, reason: reason) }
    }

    /// Writes `recorder`'s dump; returns its path, or `nil` after saying on standard error why
    /// it could not be written (a diagnostic: nothing else depends on it).
    static func write(_ recorder: FlightRecorder, reason: FlightDump.Reason) -> String? {
        do {
            return try recorder.writeDump(reason: reason)
        } catch {
            FileHandle.standardError.write(Data("collectives: rank \(recorder.rank): cannot write the flight recorder's dump to \(recorder.directory): \(error)\n".utf8))
            return nil
        }
    }
}
