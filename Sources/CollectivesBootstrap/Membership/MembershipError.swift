import CollectivesRendezvous

/// A setting a joining process has other than the job's (nil where one side has none).
package struct SettingDifference: Sendable, Equatable {
    package let name: String
    package let job: String?
    package let joiner: String?

    package init(name: String, job: String?, joiner: String?) {
        self.name = name
        self.job = job
        self.joiner = joiner
    }
}

/// Why shrinking, growing or joining a job failed, with the values that say so.
package enum MembershipError: Error, Sendable, CustomStringConvertible {
    /// The store failed or timed out.
    case store(RendezvousError)
    /// Connecting the new generation failed.
    case bootstrap(BootstrapError)
    /// Rank 0 could not admit: survivors of generation `generation` are shrinking it.
    case shrinking(generation: Int)
    /// Rank 0 waited `waitedSeconds` for `awaited` joiners and only `arrived` came.
    case awaitedJoinersMissing(arrived: Int, awaited: Int, waitedSeconds: Double)
    /// A joiner's ticket was not admitted within `waitedSeconds`.
    case notAdmitted(ticket: Int64, waitedSeconds: Double)
    /// The job refused a joiner's ticket: its settings differ.
    case refused(ticket: Int64, SettingDifference)
    /// The store holds an admission for `ticket` that is not one.
    case malformedAdmission(ticket: Int64, text: String)
    /// The store holds a successor of `generation` that is not one.
    case malformedSuccessor(generation: Int, text: String)
    /// Generation `generation` was shrunk while its ranks admitted joiners.
    case shrunkWhileAdmitting(generation: Int)
    /// The survivors of `generation` were decided before this rank arrived.
    case leftOut(generation: Int, survivors: [Int])

    /// Whether a joiner whose connection to its admitted generation failed this way should
    /// wait for the next admission (a rank of the job was lost while the generation formed):
    /// yes, unless its own settings are wrong.
    var mayRetryJoining: Bool {
        if case .bootstrap(let error) = self { return error.kind != .configuration }
        return false
    }

    package var description: String {
        switch self {
        case .store(let error): return error.description
        case .bootstrap(let error): return error.description
        case .shrinking(let generation):
            return "ranks of generation \(generation) are shrinking it: a rank was lost"
        case let .awaitedJoinersMissing(arrived, awaited, seconds):
            return "\(arrived) of the \(awaited) processes awaited came to join within \(seconds) s"
        case let .notAdmitted(ticket, seconds):
            return "ticket \(ticket) was not admitted within \(seconds) s: the job may have ended, or be at its maximum size"
        case let .refused(ticket, difference):
            return "the job refused ticket \(ticket): its setting \(difference.name) is \(difference.job ?? "(not set)"), this process has \(difference.joiner ?? "(not set)")"
        case let .malformedAdmission(ticket, text):
            return "the job's store holds a malformed admission for ticket \(ticket): \"\(text)\""
        case let .malformedSuccessor(generation, text):
            return "the job's store holds a malformed successor of generation \(generation): \"\(text)\""
        case .shrunkWhileAdmitting(let generation):
            return "generation \(generation) was shrunk while joining ranks were admitted"
        case let .leftOut(_, survivors):
            return "the surviving ranks \(survivors) were decided before this rank arrived: it was left out"
        }
    }

    /// Any error met on the way (the store's, a nested step's) as a membership error.
    static func wrapping(_ error: any Error) -> MembershipError {
        switch error {
        case let error as MembershipError: return error
        case let error as RendezvousError: return .store(error)
        case let error as BootstrapError: return .bootstrap(error)
        default: return .store(.protocolViolation("\(error)"))
        }
    }
}
