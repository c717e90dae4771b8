import Crypto

/// The secret every process of a job shares (`COLLECTIVES_JOB_SECRET`), with which each end of a
/// connection proves it belongs to the job: HMAC-SHA256 over a fresh random challenge, never the
/// secret itself on the wire.
///
/// A job without a secret uses the empty key: connections still carry the challenge and answer,
/// so a process with a secret refuses one without, and the other way round.
public struct JobSecret: Sendable, Hashable {
    private let key: [UInt8]

    /// The secret `text` (any string; its UTF-8 bytes are the key).
    public init(_ text: String) { key = Array(text.utf8) }

    /// A key given as bytes (a key derived from another, such as a store connection's).
    public init(bytes: [UInt8]) { key = bytes }

    /// No secret.
    public static let none = JobSecret("")

    /// Whether a secret was given.
    public var isSet: Bool { !key.isEmpty }

    /// Bytes of a challenge.
    package static let challengeSize = 16
    /// Bytes of an answer.
    package static let answerSize = 32

    /// A fresh random challenge.
    package static func challenge() -> [UInt8] {
        var generator = SystemRandomNumberGenerator()
        return (0..<challengeSize).map { _ in UInt8.random(in: 0...255, using: &generator) }
    }

    /// The answer to `challenge` in `context` (which side answers, and what it vouches for).
    package func answer(_ challenge: [UInt8], context: [UInt8]) -> [UInt8] {
        var mac = HMAC<SHA256>(key: SymmetricKey(data: key))
        mac.update(data: context)
        mac.update(data: challenge)
        return Array(mac.finalize())
    }

    /// Whether `answer` is right, compared in constant time.
    package func accepts(_ answer: [UInt8], to challenge: [UInt8], context: [UInt8]) -> Bool {
        guard answer.count == Self.answerSize else { return false }
        var data = context
        data += challenge
        return HMAC<SHA256>.isValidAuthenticationCode(answer, authenticating: data, using: SymmetricKey(data: key))
    }

    /// A new random secret for a job (64 hex digits), as the launcher makes when none is given.
    package static func generate() -> String {
        var generator = SystemRandomNumberGenerator()
        let digits = Array("0123456789abcdef")
        return String((0..<64).map { _ in digits[Int.random(in: 0..<16, using: &generator)] })
    }
}
