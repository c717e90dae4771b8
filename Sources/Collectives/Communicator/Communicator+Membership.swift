import CollectivesBootstrap
import CollectivesRendezvous
import CollectivesSystem

/// What the communicator asks of the membership layer (`CollectivesBootstrap/Membership`), and
/// what it makes of the answers.
extension Communicator {
    /// This rank's generation, number and world size.
    var elasticPlace: ElasticPlace { ElasticPlace(generation: elasticGeneration, rank: rank, worldSize: worldSize) }

    /// The membership of this communicator's job, or an error naming `operation` when it was
    /// made without a store (the job cannot shrink or grow).
    func membership(for operation: String) throws(CollectivesError) -> Membership {
        guard bootstrapped != nil, let store = elasticStore else {
            throw CollectivesError(.invalidArgument, rank: rank, operation: operation,
                                   reason: "changing the job's ranks needs the rendezvous store: make the communicator from the environment or from a store")
        }
        return Self.membership(store: store, options: options)
    }

    /// The membership of the job whose store is `store`, for communicators with `options`.
    static func membership(store: any Store, options: CommunicatorOptions) -> Membership {
        let interface = ProcessEnvironment.current()[EnvironmentVariable.socketInterface.name].flatMap { $0.isEmpty ? nil : $0 }
        return Membership(store: store, timeoutSeconds: options.timeoutSeconds, socketInterface: interface,
                          settings: options.bootstrapSettings)
    }

    /// The communicator of a new generation, `place`, over the group membership connected,
    /// sharing the store's connection (and server) with this one.
    func successor(at place: ElasticPlace, group: Bootstrapped, store: any Store) -> Communicator {
        bootstrapped?.shareStore(with: group)
        return Self.member(at: place, group: group, store: store, options: options)
    }

    /// A communicator of generation `place` over `group`.
    static func member(at place: ElasticPlace, group: Bootstrapped, store: any Store, options: CommunicatorOptions) -> Communicator {
        let communicator = Communicator(transport: group.transport, options: options, bootstrapped: group)
        communicator.elasticGeneration = place.generation
        communicator.elasticStoreOverride = store
        return communicator
    }
}

extension CollectivesError {
    /// A membership error met during `operation` on `rank`.
    init(_ error: MembershipError, rank: Int?, operation: String) {
        switch error {
        case .store(let cause): self.init(cause, rank: rank, operation: operation)
        case .bootstrap(let cause): self.init(cause, operation: operation)
        case .awaitedJoinersMissing, .notAdmitted:
            self.init(.timedOut, rank: rank, operation: operation, reason: error.description)
        case .refused(_, let difference):
            self.init(.configuration, rank: rank, operation: operation, reason: error.description)
            differingSetting = SettingDifference(name: difference.name, job: difference.job, joiner: difference.joiner)
        case .shrinking, .malformedAdmission, .malformedSuccessor, .shrunkWhileAdmitting, .leftOut:
            self.init(.rendezvous, rank: rank, operation: operation, reason: error.description)
        }
    }
}
