import CollectivesSystem

/// A medium where every rank of a group posts one small message per round for all the others
/// to read in place: no request, no queue, no copy on the way in. Shared memory offers it
/// (``SharedMemoryTransport``); the one-shot all-reduce runs on it.
///
/// ## Contract
/// - **Rounds.** Every rank's *k*-th ``publish(_:tag:deadline:)`` is round *k*; ``read(from:tag:bytes:deadline:)``
///   reads a peer's post of this rank's latest round; ``finishRound()`` ends this rank's part in it. A rank publishes round *k* + 1 only after
///   it has read every peer's post of round *k*: a post stays readable until its owner's round
///   after next, and a publish waits for every peer to have reached the round before it.
/// - **Matching is checked.** A read names the tag and length it expects; a post with another
///   is a ``TransportError/Kind/mismatch(_:)`` carrying both, as on the transport's messages.
/// - **Deadlines and failure.** Every wait takes a deadline; when it passes, the read fails with
///   ``TransportError/Kind/timedOut`` naming the peer and the transport fails. A peer that died
///   or closed fails the read with ``TransportError/Kind/peerGone``; a failed transport fails
///   every call with its error.
/// - **Threads.** As for the transport: one thread at a time.
package protocol MessageBoard: AnyObject, Sendable {
    /// The most bytes one post can carry.
    var boardCapacity: Int { get }

    /// Posts `bytes` (at most ``boardCapacity``) as this rank's next round, with `tag`.
    func publish(_ bytes: UnsafeRawBufferPointer, tag: MessageTag, deadline: Deadline) throws(TransportError)

    /// Waits for `peer`'s post of this rank's latest round, checks its tag and length, and
    /// returns where its bytes are: readable until this rank's next publish. `peer` may be this
    /// rank (its own post).
    func read(from peer: Int, tag: MessageTag, bytes: Int, deadline: Deadline) throws(TransportError) -> UnsafeRawPointer

    /// Ends this rank's part in its latest round, after its reads: wakes any peer asleep waiting
    /// for this rank's post. (A read that has to wait does this first, so that such a peer is not
    /// kept asleep while this rank waits for another.)
    func finishRound()
}
