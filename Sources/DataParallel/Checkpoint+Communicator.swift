import Collectives

extension Checkpoint {
    /// Writes `checkpoint` (given on rank 0 of `communicator`, `nil` elsewhere) into `directory`,
    /// then lets every rank learn whether that worked, so no rank goes on past a checkpoint that
    /// was not written.
    static func save(_ checkpoint: Checkpoint?, to directory: String, on communicator: Communicator) throws {
        var failed: [Int32] = [0]
        var writeError: CheckpointError?
        if communicator.rank == 0, let checkpoint {
            do {
                try checkpoint.write(to: directory)
            } catch {
                writeError = error
                failed = [1]
            }
        }
        try communicator.allReduce(&failed, op: .max)
        if let writeError { throw writeError }
        if failed[0] != 0 {
            throw CheckpointError(path: path(in: directory), problem: .failedOnRankZero(writing: true))
        }
    }

    /// Rank 0 of `communicator` reads the checkpoint in `directory` and every rank gets it whole;
    /// `nil` when there is none yet. A checkpoint of another number of parameters than
    /// `parameterCount` is an error on every rank.
    package static func load(from directory: String, parameterCount: Int, on communicator: Communicator) throws -> Checkpoint? {
        var header: [Int64] = [-1, 0]
        var loaded: Checkpoint?
        var readError: CheckpointError?
        if communicator.rank == 0 {
            do {
                loaded = try read(from: directory, expectedParameters: parameterCount)
                header = loaded.map { [Int64($0.epochsCompleted), Int64($0.parameters.count)] } ?? [-1, 0]
            } catch {
                readError = error
                header = [-2, 0]
            }
        }
        try communicator.broadcast(&header, root: 0)
        let path = path(in: directory)
        if header[0] == -2 { throw readError ?? CheckpointError(path: path, problem: .failedOnRankZero(writing: false)) }
        if header[0] == -1 { return nil }
        guard header[1] == Int64(parameterCount) else {
            throw CheckpointError(path: path, problem: .parameterCount(inFile: UInt64(clamping: header[1]), model: parameterCount))
        }
        var parameters = loaded?.parameters ?? [Float](repeating: 0, count: parameterCount)
        var velocity = loaded?.velocity ?? [Float](repeating: 0, count: parameterCount)
        try communicator.broadcast(&parameters, root: 0)
        try communicator.broadcast(&velocity, root: 0)
        return Checkpoint(epochsCompleted: Int(header[0]), parameters: parameters, velocity: velocity)
    }
}

/// Checksums that tell whether ranks hold the same parameters.
enum ParameterChecksum {
    /// FNV-1a over the bytes of `values`.
    static func fnv1a(_ values: UnsafeMutableBufferPointer<Float>) -> UInt64 {
        var hash: UInt64 = 0xcbf2_9ce4_8422_2325
        for byte in UnsafeRawBufferPointer(values) {
            hash = (hash ^ UInt64(byte)) &* 0x100_0000_01b3
        }
        return hash
    }

    /// Whether every rank of `communicator` has the same `hash`.
    static func identical(_ hash: UInt64, on communicator: Communicator) throws(CollectivesError) -> Bool {
        var low = [Int64(bitPattern: hash)], high = [Int64(bitPattern: hash)]
        try communicator.allReduce(&low, op: .min)
        try communicator.allReduce(&high, op: .max)
        return low == high
    }
}
