import CollectivesSystem

/// Settings of the TCP transport.
public struct TCPOptions: Sendable, Hashable {
    /// Send and receive buffer size asked of the kernel for each data socket. Large buffers let a
    /// peer keep sending while this rank reduces; the kernel caps them at `net.core.wmem_max`.
    /// Zero leaves the sizes to the kernel's autotuning.
    public var socketBufferBytes: Int32 = 4 << 20

    /// ``helloTimeout`` in seconds, as the library reads it.
    package var helloTimeoutSeconds: Double = 5

    /// How long each step of an accepted connection's handshake may take before the connection
    /// is dropped (a real rank takes milliseconds, even across a data centre).
    public var helloTimeout: Duration {
        get { Duration(seconds: helloTimeoutSeconds) }
        set { helloTimeoutSeconds = newValue.inSeconds }
    }

    /// ``connectTimeout`` in seconds, as the library reads it.
    package var connectTimeoutSeconds: Double = 15

    /// How long a rank keeps trying to reach a peer's advertised address (refused, unreachable
    /// or unanswered) before it fails, naming the pair and the address. Default 15 s;
    /// `COLLECTIVES_CONNECT_TIMEOUT` sets it.
    public var connectTimeout: Duration {
        get { Duration(seconds: connectTimeoutSeconds) }
        set { connectTimeoutSeconds = newValue.inSeconds }
    }

    /// Handshakes a rank runs at once while it waits for its peers; when more connections
    /// arrive, the oldest unfinished one is dropped.
    public var maximumPendingHandshakes: Int = 64

    /// ``livenessTimeout`` in seconds, as the library reads it.
    package var livenessTimeoutSeconds: Double = 10

    /// How soon a peer whose host vanished (no reset, no answer) is an error on its connection:
    /// TCP keepalive probes and a user timeout (`TCP_USER_TIMEOUT`) on every data socket. A peer
    /// that is alive but busy answers the probes from its kernel and keeps its connection. Zero
    /// turns both off. Default 10 s; `COLLECTIVES_TCP_LIVENESS_SECONDS` sets it.
    public var livenessTimeout: Duration {
        get { Duration(seconds: livenessTimeoutSeconds) }
        set { livenessTimeoutSeconds = newValue.inSeconds }
    }

    /// How waits spin, yield and sleep. Default: sleep at once; a communicator sets it from the
    /// number of ranks on this host (``WaitPolicy/automatic(localRanks:cores:)``).
    public var waitPolicy: WaitPolicy = .sleep

    /// Connections per pair of ranks. Messages of at least ``stripeThresholdBytes`` are cut into
    /// this many stripes, one per connection, and reassembled in place; smaller ones use the
    /// first. Default 1, the best on the machines measured (see docs/transports.md);
    /// `COLLECTIVES_TCP_STREAMS` sets it (the same on every rank).
    public var streams: Int = 1

    /// The smallest message that is striped when ``streams`` > 1. Default 256 KiB.
    public var stripeThresholdBytes: Int = 256 << 10

    /// The job's secret: each data connection's handshake proves both ends know it (mutual
    /// HMAC challenge), and a connection that cannot is refused and logged.
    public var secret: JobSecret = .none

    /// Authenticate every data frame: a 32-byte HMAC-SHA256 tag under a key of the connection
    /// (derived from the secret and both handshake challenges), over the frame's sequence number,
    /// header and payload; a frame with a wrong tag fails the receive. Off by default: it costs
    /// about one SHA-256 pass over every byte on each end (see docs/protocol.md for the measured
    /// cost). `COLLECTIVES_AUTHENTICATE_DATA=1` sets it, the same on every rank.
    public var authenticateFrames = false

    public init() {}
}
