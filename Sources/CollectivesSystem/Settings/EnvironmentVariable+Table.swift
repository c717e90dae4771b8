/// Every `COLLECTIVES_*` variable, grouped as docs/environment.md shows them.
extension EnvironmentVariable {
    // MARK: Time and diagnosis
    package static let timeout = EnvironmentVariable(
        "COLLECTIVES_TIMEOUT", default: "300", "seconds that any blocking wait may take, rendezvous included (`1e10`: practically none)")
    package static let joinTimeout = EnvironmentVariable(
        "COLLECTIVES_JOIN_TIMEOUT", default: "600", "seconds a joining process waits to be admitted")
    package static let connectTimeout = EnvironmentVariable(
        "COLLECTIVES_CONNECT_TIMEOUT", default: "15",
        "seconds a rank keeps trying to reach a peer's advertised address before failing, naming the pair and the address")
    package static let tcpLivenessSeconds = EnvironmentVariable(
        "COLLECTIVES_TCP_LIVENESS_SECONDS", default: "10", "a peer whose host vanished is an error after about this long (`0`: off)")
    package static let flightRecorder = EnvironmentVariable(
        "COLLECTIVES_FLIGHT_RECORDER", default: "256", "how many of its last calls each communicator keeps for diagnosis (`0`: off)")
    package static let flightRecorderDirectory = EnvironmentVariable(
        "COLLECTIVES_FLIGHT_RECORDER_DIR", default: "`/tmp`", "where flight-recorder dumps go (`collectives-run --dump-dir` sets it)")
    package static let logLevel = EnvironmentVariable(
        "COLLECTIVES_LOG_LEVEL", default: "`info`",
        "log level of the executables, and of programs that call `CollectivesLogHandler.bootstrapFromEnvironment()` (`debug` shows the transport and algorithm chosen)")
    package static let logSubsystems = EnvironmentVariable(
        "COLLECTIVES_LOG_SUBSYS", default: "all",
        "as `NCCL_DEBUG_SUBSYS`: `transport,bootstrap` logs those at `COLLECTIVES_LOG_LEVEL` and the others from `warning` up; `transport=trace` gives one its own level; `^transport` leaves it out (subsystems: `collectives`, `bootstrap`, `transport`, `rendezvous`, `training`, `tools`, `all`)")
    package static let logFile = EnvironmentVariable(
        "COLLECTIVES_LOG_FILE", default: "standard error",
        "log to this file instead; `%r` is the rank, `%p` the pid, `%h` the host (`/tmp/job-%r.log`)")

    // MARK: Network and rendezvous
    package static let socketInterface = EnvironmentVariable(
        "COLLECTIVES_SOCKET_IFNAME", default: "the address that reaches the store",
        "the network interface whose address a rank advertises, as NCCL's: name prefixes (`eth,ib`), `=exact` names, `^excluded` prefixes, comma-separated; IPv4 first, then routable IPv6")
    package static let storePort = EnvironmentVariable(
        "COLLECTIVES_STORE_PORT", default: "`MASTER_PORT`",
        "the port of the job's store (`MASTER_PORT + 1` under torchrun's agent store)")
    package static let storeBind = EnvironmentVariable(
        "COLLECTIVES_STORE_BIND", default: "`MASTER_ADDR`", "where rank 0's store listens when not on `MASTER_ADDR`: `any`, or an address of this host")
    package static let portRange = EnvironmentVariable(
        "COLLECTIVES_PORT_RANGE", default: "any free port",
        "`lo-hi`: every listening socket (each rank's data port, and `collectives-run`'s store when no port is given) takes a free port from this range")
    package static let hostID = EnvironmentVariable(
        "COLLECTIVES_HOST_ID", default: "the kernel's boot id and namespaces", "which host this rank is on, for choosing shared memory")

    // MARK: Security
    package static let jobSecret = EnvironmentVariable(
        "COLLECTIVES_JOB_SECRET", default: "none (`collectives-run` makes one)", "the job's secret, proven on every connection; the same on every rank")
    package static let requireSecret = EnvironmentVariable(
        "COLLECTIVES_REQUIRE_SECRET", default: "`0`", "`1`: refuse to start without `COLLECTIVES_JOB_SECRET`")
    package static let authenticateData = EnvironmentVariable(
        "COLLECTIVES_AUTHENTICATE_DATA", default: "`0`",
        "`1`: every TCP data frame carries an HMAC-SHA256 tag (costs CPU: [protocol.md](protocol.md#authentication-what-it-promises)); the same on every rank")

    // MARK: Transports and algorithms
    package static let transport = EnvironmentVariable(
        "COLLECTIVES_TRANSPORT", default: "`auto`",
        "`auto` (shared memory between ranks on one host, TCP between hosts; verbs between hosts where every rank has a device), `tcp`, `shm`, `verbs`")
    package static let algorithm = EnvironmentVariable(
        "COLLECTIVES_ALGORITHM", default: "`auto`",
        "all-reduce algorithm: `auto`, `ring`, `tree`, `recursive-doubling`, `rabenseifner`, `one-shot`, `hierarchical`, `central`")
    package static let latencyMicroseconds = EnvironmentVariable(
        "COLLECTIVES_LATENCY_US", default: "measured", "the cost model's latency, instead of measuring it (with `COLLECTIVES_BANDWIDTH_GBPS`)")
    package static let bandwidthGBps = EnvironmentVariable(
        "COLLECTIVES_BANDWIDTH_GBPS", default: "measured", "the cost model's link bandwidth, instead of measuring it (with `COLLECTIVES_LATENCY_US`)")
    package static let reduceGBps = EnvironmentVariable(
        "COLLECTIVES_REDUCE_GBPS", default: "measured", "the cost model's reduction speed")
    package static let ringSegmentBytes = EnvironmentVariable(
        "COLLECTIVES_RING_SEGMENT_BYTES", default: "512 KiB", "ring pipelining: the segment size")
    package static let ringWindow = EnvironmentVariable(
        "COLLECTIVES_RING_WINDOW", default: "4", "ring pipelining: receives posted ahead")
    package static let treeSegmentBytes = EnvironmentVariable(
        "COLLECTIVES_TREE_SEGMENT_BYTES", default: "128 KiB", "pipelining of the tree all-reduce and of chain broadcast and reduce")
    package static let socketBufferBytes = EnvironmentVariable(
        "COLLECTIVES_SOCKET_BUFFER_BYTES", default: "4 MiB", "TCP send and receive buffers (`0` leaves them to the kernel)")
    package static let tcpStreams = EnvironmentVariable(
        "COLLECTIVES_TCP_STREAMS", default: "1", "TCP connections per pair of ranks")
    package static let tcpStripeBytes = EnvironmentVariable(
        "COLLECTIVES_TCP_STRIPE_BYTES", default: "256 KiB", "the smallest message striped over several TCP streams")
    package static let sharedMemoryRingBytes = EnvironmentVariable(
        "COLLECTIVES_SHM_RING_BYTES", default: "4 MiB", "size of each shared-memory ring")
    package static let singleCopyBytes = EnvironmentVariable(
        "COLLECTIVES_SHM_SINGLE_COPY_BYTES", default: "`0` (off)",
        "shared-memory messages of at least this size are read straight from the sender's buffer (`process_vm_readv`) instead of passing through the ring (faster only for buffers past the cache: [transports.md](transports.md))")
    package static let spinMicroseconds = EnvironmentVariable(
        "COLLECTIVES_SPIN_MICROSECONDS", default: "from the ranks and cores of this host",
        "how long a waiting rank polls before it yields ([transports.md](transports.md#waiting))")
    package static let yieldMicroseconds = EnvironmentVariable(
        "COLLECTIVES_YIELD_MICROSECONDS", default: "from the ranks and cores of this host",
        "how long, after spinning, a waiting rank polls with `sched_yield` between polls before it sleeps")

    // MARK: Elastic jobs
    package static let elastic = EnvironmentVariable(
        "COLLECTIVES_ELASTIC", default: "`0`",
        "`1`: a program may go on without ranks that die (`mnist-train` shrinks and repeats the epoch); `collectives-run --elastic` sets it")
    package static let elasticMaximum = EnvironmentVariable(
        "COLLECTIVES_ELASTIC_MAX", default: "the starting size", "the most ranks an elastic job admits joiners up to; `collectives-run --max` sets it")
    package static let elasticJoin = EnvironmentVariable(
        "COLLECTIVES_ELASTIC_JOIN", default: "`0`",
        "`1`: this process joins a running elastic job through `MASTER_ADDR:MASTER_PORT` (its store) instead of taking `RANK`; `collectives-run --join` sets it")

    // MARK: Set by the launcher
    package static let store = EnvironmentVariable(
        "COLLECTIVES_STORE", default: "rank 0 serves it", "`external`: the store at `MASTER_ADDR:MASTER_PORT` is served by the launcher, not by rank 0",
        setByLauncher: true)
    package static let stdoutIsTerminal = EnvironmentVariable(
        "COLLECTIVES_STDOUT_IS_TERMINAL", default: "`0`", "`1`: the launcher's output is a terminal (progress lines redraw)", setByLauncher: true)
    package static let runDirectory = EnvironmentVariable(
        "COLLECTIVES_RUN_DIRECTORY", default: "-", "the directory a rank started through a launch agent runs in (the launcher's)", setByLauncher: true)

    /// Every variable, in the order of the docs.
    package static let all: [EnvironmentVariable] = [
        timeout, joinTimeout, connectTimeout, tcpLivenessSeconds, flightRecorder, flightRecorderDirectory, logLevel, logSubsystems, logFile,
        socketInterface, storePort, storeBind, portRange, hostID,
        jobSecret, requireSecret, authenticateData,
        transport, algorithm, latencyMicroseconds, bandwidthGBps, reduceGBps, ringSegmentBytes, ringWindow, treeSegmentBytes,
        socketBufferBytes, tcpStreams, tcpStripeBytes, sharedMemoryRingBytes, singleCopyBytes, spinMicroseconds, yieldMicroseconds,
        elastic, elasticMaximum, elasticJoin,
        store, stdoutIsTerminal, runDirectory,
    ]
}
