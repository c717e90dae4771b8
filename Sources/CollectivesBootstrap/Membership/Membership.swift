import CollectivesRendezvous
import CollectivesSystem
import CollectivesTransport
import Logging

/// Elastic membership: the layer that turns one generation of a job into the next through the
/// job's store, and connects the new generation's ranks. A communicator asks it for a new group
/// (``grow(_:)``, ``shrink(_:grace:)``, ``join(settings:timeout:)``) and wraps what it gets; it
/// builds no stores and reads no keys itself.
///
/// Generations, tickets and every key they use are described at ``StoreKeys/Elastic``;
/// `models/membership.pml` is the protocol as a Promela model.
package struct Membership: Sendable {
    /// The job's store (the launcher's: it must outlive the ranks lost).
    package let store: any Store
    /// The bound of every wait and of each new generation's bootstrap.
    let timeoutSeconds: Double
    /// The interface new generations listen on (`COLLECTIVES_SOCKET_IFNAME`'s), or nil.
    let socketInterface: String?
    /// The settings each new generation's bootstrap runs with (the job secret among them).
    let settings: BootstrapSettings

    package init(store: any Store, timeoutSeconds: Double, socketInterface: String?, settings: BootstrapSettings) {
        self.store = store
        self.timeoutSeconds = timeoutSeconds
        self.socketInterface = socketInterface
        self.settings = settings
    }

    /// Connects the ranks of `place`'s generation afresh, `place.rank` among them.
    package func connect(_ place: ElasticPlace) throws(MembershipError) -> Bootstrapped {
        var configuration = LaunchConfiguration(rank: place.rank, worldSize: place.worldSize, timeoutSeconds: timeoutSeconds,
                                                socketInterface: socketInterface)
        configuration.jobSecret = settings.tcp.secret
        do {
            return try Bootstrap.connect(store: PrefixStore(prefix: StoreKeys.Elastic.job(place.generation), base: store),
                                         configuration: configuration, settings: settings)
        } catch {
            throw .bootstrap(error)
        }
    }

    /// Rank 0 of `place`'s generation admits the processes waiting to join, at most `room`,
    /// first waiting up to half the timeout until `awaiting` wait; returns how many it admitted
    /// (the others learn it from rank 0, then call ``grow(_:)`` if it is more than 0).
    package func admitWaiting(at place: ElasticPlace, room: Int, awaiting: Int,
                              jobSettings: [String: String]) throws(MembershipError) -> Int {
        try JoinTickets.admit(generation: place.generation, worldSize: place.worldSize, room: room, awaiting: awaiting,
                              waitSeconds: timeoutSeconds / 2, settings: jobSettings, store: store)
    }

    /// After rank 0 admitted joiners at `place`'s generation: this rank's place in the grown
    /// generation, connected.
    package func grow(_ place: ElasticPlace) throws(MembershipError) -> (place: ElasticPlace, group: Bootstrapped) {
        let successor: ElasticSuccessor
        do {
            successor = try ElasticSuccessor.wait(place.generation, in: store, deadline: Deadline.after(seconds: timeoutSeconds))
        } catch {
            throw .wrapping(error)
        }
        guard successor.kind == .admitted, let newRank = successor.newRank(of: place.rank) else {
            throw .shrunkWhileAdmitting(generation: place.generation)
        }
        let grown = ElasticPlace(generation: place.generation + 1, rank: newRank, worldSize: successor.worldSize)
        return (grown, try connect(grown))
    }

    /// A process outside the job joins it: takes a ticket, waits until the job's ranks admit it
    /// or `timeout` passes, then connects to them. If its admission fails (a rank of the job was
    /// lost meanwhile), takes a new ticket and waits for the next, within the same `timeout`.
    package func join(settings jobSettings: [String: String], timeout: Duration)
        throws(MembershipError) -> (ticket: Int64, place: ElasticPlace, group: Bootstrapped) {
        let seconds = timeout.inSeconds
        let deadline = Deadline.after(seconds: seconds)
        while true {
            let (ticket, admitted) = try JoinTickets.awaitAdmission(store: store, settings: jobSettings, deadline: deadline,
                                                                    seconds: seconds, connectSeconds: timeoutSeconds)
            guard let place = admitted else { continue }
            do {
                return (ticket, place, try connect(place))
            } catch where !deadline.hasPassed && error.mayRetryJoining {
                settings.logger.notice("ticket \(ticket): the admission to generation \(place.generation) failed (\(error)); waiting for the next")
            }
        }
    }

    /// The store a launcher serves for its job, as its ranks reach it: `MASTER_ADDR`,
    /// `MASTER_PORT`, and the job secret in `settings`.
    package static func jobStore(in environment: [String: String], timeoutSeconds: Double,
                                 settings: BootstrapSettings) throws(MembershipError) -> TCPStore {
        let (host, port): (String, UInt16)
        do {
            (host, port) = try LaunchConfiguration.storeEndpoint(in: environment)
        } catch {
            throw .store(error)
        }
        let addresses: [SocketAddress]
        do {
            addresses = try SocketAddress.resolve(host: host, port: port)
        } catch {
            throw .store(.storeUnreachable(address: "\(host):\(port)", cause: error))
        }
        guard let address = addresses.first else {
            throw .store(.invalidEnvironment(variable: "MASTER_ADDR", value: host, expected: "a host with an address"))
        }
        do {
            return try TCPStore(connectingTo: address, deadline: Deadline.after(seconds: timeoutSeconds), secret: settings.tcp.secret)
        } catch {
            throw .wrapping(error)
        }
    }
}
