import CollectivesRendezvous
import CollectivesSystem
import CollectivesTransport
import Logging
import Synchronization

/// What bootstrap made: the data transport, the store and the store's server (on the rank that
/// serves it), and where the ranks are. ``close()`` releases the store and its server; the
/// transport is the caller's.
package final class Bootstrapped: @unchecked Sendable {
    package let transport: any Transport
    /// The rendezvous store, kept for the job's lifetime (progress reports, sub-communicators).
    package let store: (any Store)?
    /// The host of every rank, by rank, numbered in order of first rank.
    package let hosts: [Int]
    /// The launcher's local rank and ranks per host, where it said them.
    package let localRank: Int?
    package let localWorldSize: Int?
    /// What this bootstrap holds of store connections and servers (its own, and those shared
    /// with it by communicators made over the same store); emptied when closed.
    private let held: Mutex<[StoreResources]>

    init(transport: any Transport, store: (any Store)?, server: TCPStoreServer?, hosts: [Int], localRank: Int?, localWorldSize: Int?,
         ownsStore: Bool = true) {
        self.transport = transport
        self.store = store
        self.hosts = hosts
        self.localRank = localRank
        self.localWorldSize = localWorldSize
        let connection = ownsStore ? store.flatMap { PrefixStore.innermost($0) as? TCPStore } : nil
        held = Mutex([StoreResources(connection: connection, server: server)])
    }

    /// Lets go of the store connection (when bootstrap opened it, not when the caller passed it
    /// in) and, on the rank that serves it, the store: each closes once no communicator made
    /// over it holds it any more.
    package func close() {
        let released = held.withLock { held in
            defer { held = [] }
            return held
        }
        _ = released
    }

    /// Makes the store's connection close with this bootstrap, for a store its caller opened
    /// only for it (and would otherwise leave open).
    package func adoptStore() {
        guard let connection = store.flatMap({ PrefixStore.innermost($0) as? TCPStore }) else { return }
        held.withLock { $0.append(StoreResources(connection: connection, server: nil)) }
    }

    /// Shares the store's connection, and the store's server on the rank that serves it, with
    /// `other` (made over the same store, as a shrunk or grown communicator's is): they close
    /// once both have let go, whichever goes first. So a grown communicator that is aborted and
    /// dropped leaves the store to the one it was grown from, and the other way round.
    package func shareStore(with other: Bootstrapped) {
        let mine = held.withLock { $0 }
        other.held.withLock { $0.append(contentsOf: mine) }
    }
}

/// A store connection and server that a bootstrap opened, closed when the last bootstrap
/// holding them lets go.
final class StoreResources: Sendable {
    private let connection: TCPStore?
    private let server: TCPStoreServer?

    init(connection: TCPStore?, server: TCPStoreServer?) {
        self.connection = connection
        self.server = server
    }

    deinit {
        connection?.close()
        server?.close()
    }
}

/// Finds the other ranks and connects to them: the layer below the collectives that knows
/// stores, sockets and transports.
package enum Bootstrap {
    /// Finds the other ranks through a TCP store at the configuration's master address (served
    /// by rank 0, or standalone when ``LaunchConfiguration/externalStore`` is set), connects to
    /// them over TCP, and makes the data transport (``TransportFactory``).
    ///
    /// Steps: rank 0 starts the store; every rank connects to it, claims its rank (a rank
    /// claimed twice is an error on every rank), listens on the address it advertises (the local
    /// address of its store connection, or `COLLECTIVES_SOCKET_IFNAME`'s), publishes it, waits for
    /// everyone's, and connects to each peer. The whole set-up is bounded by the configuration's
    /// timeout.
    package static func connect(configuration: LaunchConfiguration, settings: BootstrapSettings) throws(BootstrapError) -> Bootstrapped {
        let rank = configuration.rank
        var settings = settings
        // Every line of the set-up says whose it is, as metadata.
        settings.logger[metadataKey: "rank"] = "\(rank)"
        let logger = settings.logger
        do {
            try configuration.validate()
        } catch {
            throw BootstrapError(error, rank: -1)
        }
        let deadline = Deadline.after(seconds: configuration.timeoutSeconds)
        let started = Deadline.now
        let world = configuration.worldSize

        // 1. The store: rank 0 serves it, everyone (rank 0 too) is a client.
        let masterAddresses: [SocketAddress]
        do {
            masterAddresses = try SocketAddress.resolve(host: configuration.masterAddress, port: configuration.masterPort)
        } catch {
            throw BootstrapError(.configuration, rank: rank,
                                 reason: "cannot resolve MASTER_ADDR \(configuration.masterAddress): \(error)")
        }
        guard let master = masterAddresses.first else {
            throw BootstrapError(.configuration, rank: rank, reason: "MASTER_ADDR \(configuration.masterAddress) has no address")
        }
        var server: TCPStoreServer?
        if rank == 0 && world > 1 && !configuration.externalStore {
            server = try startStoreServer(at: master, configuration: configuration, logger: logger)
        }
        if world == 1 {
            logger.debug("rank 0: world of one, no rendezvous")
            // A store served outside the job (a launcher's) is kept: an elastic job of one rank
            // shrinks and admits joiners through it.
            var store: TCPStore?
            if configuration.externalStore {
                do {
                    store = try TCPStore(connectingTo: master, deadline: deadline, secret: configuration.jobSecret)
                } catch {
                    throw bootstrapError(error, rank: rank)
                }
            }
            return Bootstrapped(transport: SingleRankTransport(), store: store, server: nil, hosts: [0], localRank: configuration.localRank,
                                localWorldSize: configuration.localWorldSize)
        }
        do {
            let store = try TCPStore(connectingTo: master, deadline: deadline, secret: configuration.jobSecret)
            return try connect(store: store, configuration: configuration, settings: settings, deadline: deadline, started: started, server: server,
                               ownsStore: true)
        } catch {
            if let server {
                // Other ranks learn of a failure through the store, checking every 250 ms:
                // serve it a little longer so that they read the reason instead of a lost store.
                sleepSeconds(Swift.min(1, deadline.remainingSeconds))
                server.close()
            }
            throw bootstrapError(error, rank: rank)
        }
    }

    /// Finds the other ranks through `store`, any ``Store`` every rank can reach (a ``FileStore``
    /// in a shared directory, a ``TCPStore`` the program made, an ``InMemoryStore`` for threads),
    /// connects to them over TCP, and makes the data transport. The configuration's rank, world
    /// size, timeout, secret, `socketInterface`, `portRange` and `localWorldSize` apply; its
    /// master address and port do not.
    ///
    /// The store must be this job's alone: keys of an earlier job in it (a reused directory) make
    /// ranks look claimed twice. Wrap a shared one in a ``PrefixStore`` with a job-unique prefix.
    /// Ranks advertise the address `COLLECTIVES_SOCKET_IFNAME` chooses; without it, the local end
    /// of a ``TCPStore``'s connection, else the first address of an interface that is up and not
    /// loopback, else loopback.
    package static func connect(store: any Store, configuration: LaunchConfiguration, settings: BootstrapSettings) throws(BootstrapError) -> Bootstrapped {
        do {
            try configuration.validate()
        } catch {
            throw BootstrapError(error, rank: -1)
        }
        settings.logger.debug("rank \(configuration.rank): rendezvous through a \(type(of: store))")
        if configuration.worldSize == 1 {
            return Bootstrapped(transport: SingleRankTransport(), store: store, server: nil, hosts: [0], localRank: configuration.localRank,
                                localWorldSize: configuration.localWorldSize, ownsStore: false)
        }
        do {
            return try connect(store: store, configuration: configuration, settings: settings,
                               deadline: Deadline.after(seconds: configuration.timeoutSeconds), started: Deadline.now, server: nil,
                               ownsStore: false)
        } catch {
            throw bootstrapError(error, rank: configuration.rank)
        }
    }

    private static func bootstrapError(_ error: any Error, rank: Int) -> BootstrapError {
        switch error {
        case let error as BootstrapError: return error
        case let error as RendezvousError: return BootstrapError(error, rank: rank)
        case let error as TransportError: return BootstrapError(error)
        default: return BootstrapError(.rendezvous, rank: rank, reason: "\(error)")
        }
    }

    /// Steps 2 to 5 of ``connect(configuration:settings:)`` over any store.
    private static func connect(store: any Store, configuration: LaunchConfiguration, settings: BootstrapSettings,
                                deadline: Deadline, started: Deadline, server: TCPStoreServer?, ownsStore: Bool) throws -> Bootstrapped {
        let rank = configuration.rank, world = configuration.worldSize, logger = settings.logger

        // 2. Job id and rank claims.
        let jobID: UInt64
        if rank == 0 {
            jobID = UInt64.random(in: 1...UInt64.max)
            try store.set(StoreKeys.jobID, string: String(jobID))
        } else {
            let text = try store.getString(StoreKeys.jobID, deadline: deadline)
            guard let value = UInt64(text) else { throw RendezvousError.protocolViolation("bad job id \(text)") }
            jobID = value
        }
        if try store.add(StoreKeys.rankClaims(rank), 1) > 1 {
            let why = "rank \(rank) was claimed by two processes (check RANK and WORLD_SIZE of every process, and that the store is this job's alone)"
            try? store.set(StoreKeys.jobError, string: why)
            throw BootstrapError(.rendezvous, rank: rank, reason: why)
        }

        // 3. Listen where peers can reach us, and say so.
        let advertised = try advertisedAddress(configuration: configuration, store: store, rank: rank, logger: logger)
        let listener: Socket
        do {
            listener = try Socket.listen(on: advertised, ports: configuration.portRange)
        } catch {
            throw BootstrapError(.transport, rank: rank, reason: "cannot listen on \(advertised): \(error)")
        }
        defer { listener.close() }
        let listening: SocketAddress
        do { listening = try listener.localAddress() } catch {
            throw BootstrapError(.transport, rank: rank, reason: "\(error)")
        }
        // Answer (and drop) whatever connects from now on, while waiting for the others.
        let acceptor = try TCPAcceptor(listener: listener, rank: rank, worldSize: world, jobID: jobID, options: settings.tcp,
                                       deadline: deadline, logger: logger)
        defer { acceptor.stop() }
        try store.set(StoreKeys.rankAddress(rank), string: listening.description)
        logger.debug("rank \(rank): listening on \(listening)")

        // 4. Everyone's address.
        let keys = (0..<world).map(StoreKeys.rankAddress)
        try waitForAll(keys, store: store, rank: rank, deadline: deadline)
        var addresses: [SocketAddress] = []
        for (peer, key) in keys.enumerated() {
            let text = try store.getString(key, deadline: deadline)
            guard let address = SocketAddress(parsing: text) else {
                throw RendezvousError.protocolViolation("rank \(peer) published a bad address \"\(text)\"")
            }
            addresses.append(address)
        }

        // 5. Connect.
        let tcp = try TCPTransport.establish(acceptedBy: acceptor, peerAddresses: addresses, deadline: deadline)
        let (transport, hosts) = try TransportFactory.make(over: tcp, jobID: jobID, settings: settings, localWorldSize: configuration.localWorldSize,
                                                           deadline: deadline)
        logger.debug("rank \(rank)/\(world): connected (\(transport.name)) in \(MonotonicClock.seconds(since: started.uptimeNanoseconds)) s")
        return Bootstrapped(transport: transport, store: store, server: server, hosts: hosts, localRank: configuration.localRank,
                            localWorldSize: configuration.localWorldSize, ownsStore: ownsStore)
    }

    private static func startStoreServer(at master: SocketAddress, configuration: LaunchConfiguration, logger: Logger) throws(BootstrapError) -> TCPStoreServer {
        let rank = configuration.rank
        var address = master
        if let bind = configuration.storeBindAddress {
            // Asked for: every interface, or a given address of this host, on MASTER_PORT.
            let host = bind != "any" ? bind : master.isIPv6 ? "::" : "0.0.0.0"
            if let parsed = try? SocketAddress.resolve(host: host, port: master.port).first {
                address = parsed
            } else {
                throw BootstrapError(.configuration, rank: rank,
                                     reason: "COLLECTIVES_STORE_BIND=\(bind) is neither \"any\" nor an address")
            }
        }
        do {
            return try TCPStoreServer(listeningOn: address, secret: configuration.jobSecret, logger: logger)
        } catch {
            if case .cannotListen(_, .system(let cause)) = error, cause.isAddressOfAnotherHost {
                throw BootstrapError(.configuration, rank: rank,
                    reason: "rank 0 serves the rendezvous store on MASTER_ADDR \(configuration.masterAddress) (\(address)), "
                        + "but that is not an address of this host: run rank 0 where MASTER_ADDR points, or set "
                        + "COLLECTIVES_STORE_BIND=any (every interface) or to an address of this host")
            }
            throw BootstrapError(error, rank: rank)
        }
    }

    /// The address this rank listens on: the first that `COLLECTIVES_SOCKET_IFNAME` admits (prefixes,
    /// `=exact` names, `^excluded`; see ``InterfaceFilter``), or else the local end of its
    /// connection to the store, which is on a network the store (and so the peers) can reach.
    private static func advertisedAddress(configuration: LaunchConfiguration, store: any Store, rank: Int, logger: Logger) throws -> SocketAddress {
        if let text = configuration.socketInterface {
            guard let filter = InterfaceFilter(text) else {
                throw BootstrapError(.configuration, rank: rank,
                                     reason: "COLLECTIVES_SOCKET_IFNAME=\(text) names no interface (expected prefixes, =names or ^excluded, comma-separated)")
            }
            let interfaces = try InterfaceFilter.systemInterfaces()
            guard let (name, found) = filter.choose(from: interfaces) else {
                let seen = Set(interfaces.map(\.name)).sorted().joined(separator: ", ")
                throw BootstrapError(.configuration, rank: rank,
                                     reason: "COLLECTIVES_SOCKET_IFNAME=\(text): no interface that is up with a usable address matches (this host has \(seen))")
            }
            var address = found
            address.port = 0
            logger.debug("rank \(rank): COLLECTIVES_SOCKET_IFNAME=\(text): interface \(name), \(address.host)")
            return address
        }
        if let tcpStore = PrefixStore.innermost(store) as? TCPStore {
            var address = try tcpStore.localAddress()
            address.port = 0
            return address
        }
        // A store without a network address of its own (a file, memory): an interface that is
        // up and not loopback, so that ranks on other hosts sharing the directory can connect;
        // loopback where there is none.
        if let filter = InterfaceFilter("^lo,docker"), let (name, found) = filter.choose(from: (try? InterfaceFilter.systemInterfaces()) ?? []) {
            var address = found
            address.port = 0
            logger.debug("rank \(rank): advertising interface \(name), \(address.host)")
            return address
        }
        guard var loopback = try SocketAddress.resolve(host: "127.0.0.1", port: 0).first else {
            throw BootstrapError(.configuration, rank: rank, reason: "no address to listen on")
        }
        loopback.port = 0
        return loopback
    }

    /// Waits for `keys`, checking between short waits whether another rank reported a failure.
    private static func waitForAll(_ keys: [String], store: any Store, rank: Int, deadline: Deadline) throws {
        while true {
            do {
                try store.wait(keys, deadline: deadline.earlier(.after(seconds: 0.25)))
                return
            } catch {
                guard case .timedOut(_, let missing) = error else { throw error }
                if try store.check([StoreKeys.jobError]) {
                    let why = try store.getString(StoreKeys.jobError, deadline: deadline)
                    throw RendezvousError.peerReported(why)
                }
                if deadline.hasPassed {
                    let ranks = missing.compactMap(StoreKeys.rank(ofAddressKey:))
                    throw BootstrapError(.timedOut, rank: rank,
                                         reason: "timed out waiting for ranks \(ranks.map(String.init).joined(separator: ", ")) to join",
                                         missingRanks: ranks)
                }
            }
        }
    }
}
