import CollectivesSystem
import CollectivesTransport
import Logging

/// Which host every rank of a group is on, learnt over its TCP mesh: every rank sends its
/// locality key (``SharedMemoryTransport/localityKey(hostID:)``) and numbers the hosts in order
/// of their first rank.
struct HostSurvey {
    let rank: Int
    /// The host of every rank.
    let hosts: [Int]
    let hostCount: Int
    let logger: Logger

    init(over tcp: TCPTransport, settings: BootstrapSettings, deadline: Deadline) throws(BootstrapError) {
        let keys: [[UInt8]]
        do {
            keys = try SetUpRecords.allGather(Array(SharedMemoryTransport.localityKey(hostID: settings.hostID).utf8), over: tcp,
                                              tag: settings.setUpTag, deadline: deadline)
        } catch {
            throw BootstrapError(error)
        }
        var numbers: [[UInt8]: Int] = [:]
        hosts = keys.map { key in
            if let known = numbers[key] { return known }
            numbers[key] = numbers.count
            return numbers.count - 1
        }
        hostCount = numbers.count
        rank = tcp.rank
        logger = settings.logger
    }

    /// This host's ranks, this one among them.
    var ranksOnThisHost: [Int] { hosts.indices.filter { hosts[$0] == hosts[rank] } }

    /// The ranks on other hosts.
    var ranksElsewhere: [Int] { hosts.indices.filter { hosts[$0] != hosts[rank] } }

    /// Warns once (rank 0) when the ranks span hosts without a job secret.
    func warnIfUnprotected(secret: JobSecret) {
        guard !secret.isSet, hostCount > 1, rank == 0 else { return }
        logger.warning("""
            WARNING: no job secret, and this job's \(hosts.count) ranks span \(hostCount) hosts: any process that can reach the \
            rendezvous store or a rank's port can join this job, read its data or feed it forged data. Set \
            COLLECTIVES_JOB_SECRET to the same random value on every rank (e.g. `openssl rand -hex 32`; \
            collectives-run does it for you), or COLLECTIVES_REQUIRE_SECRET=1 to refuse to start without one.
            """)
    }
}
