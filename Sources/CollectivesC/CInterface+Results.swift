import CCollectivesAPI
import Collectives
import CollectivesSystem

/// What the C interface hands back: result codes, and the message of each thread's last error.
enum CResults {
    static let lastError = ThreadLocalText()

    /// Runs `body`, turning a thrown error into its result code and this thread's message.
    @inline(__always)
    static func run(_ body: () throws(CollectivesError) -> Void) -> collResult_t {
        do {
            try body()
            return collSuccess
        } catch {
            return fail(error)
        }
    }

    static func fail(_ error: CollectivesError) -> collResult_t {
        lastError.set(error.description)
        return code(of: error.kind)
    }

    /// An argument the C side got wrong before any Swift call: its code and message.
    static func invalid(_ operation: String, _ reason: String) -> collResult_t {
        lastError.set("\(operation): invalid argument: \(reason)")
        return collInvalidArgument
    }

    static func code(of kind: CollectivesError.Kind) -> collResult_t {
        switch kind {
        case .timedOut: return collTimedOut
        case .peerGone: return collPeerGone
        case .mismatch: return collMismatch
        case .invalidArgument: return collInvalidArgument
        case .closed: return collClosed
        case .rendezvous: return collRendezvousError
        case .configuration: return collConfigurationError
        case .transport: return collTransportError
        default: return collTransportError
        }
    }

    static func name(of result: collResult_t) -> StaticString {
        switch result {
        case collSuccess: return "collSuccess: no error"
        case collInvalidArgument: return "collInvalidArgument: invalid argument"
        case collTimedOut: return "collTimedOut: timed out"
        case collPeerGone: return "collPeerGone: a peer died or closed"
        case collMismatch: return "collMismatch: ranks called different collectives"
        case collClosed: return "collClosed: the communicator was closed or aborted"
        case collRendezvousError: return "collRendezvousError: the ranks could not find each other"
        case collConfigurationError: return "collConfigurationError: the environment does not say who this rank is"
        case collTransportError: return "collTransportError: a system call or the wire failed"
        case collInProgress: return "collInProgress: not done yet"
        default: return "unknown result code"
        }
    }
}

@_cdecl("collGetErrorString")
public func cGetErrorString(_ result: collResult_t) -> UnsafePointer<CChar> {
    UnsafeRawPointer(CResults.name(of: result).utf8Start).assumingMemoryBound(to: CChar.self)
}

@_cdecl("collGetLastError")
public func cGetLastError() -> UnsafePointer<CChar> {
    CResults.lastError.current ?? UnsafeRawPointer(("" as StaticString).utf8Start).assumingMemoryBound(to: CChar.self)
}

/// The version as a C string, made once and kept (never written).
nonisolated(unsafe) private let versionText: UnsafePointer<CChar> = {
    let bytes = collectivesLibraryVersion.utf8CString
    let text = UnsafeMutablePointer<CChar>.allocate(capacity: bytes.count)
    bytes.withUnsafeBufferPointer { text.initialize(from: $0.baseAddress!, count: bytes.count) }
    return UnsafePointer(text)
}()

@_cdecl("collGetVersion")
public func cGetVersion() -> UnsafePointer<CChar> { versionText }
