import CollectivesTransport
import Testing

/// How a transport error reads: which way it faced its peer comes from its operation's value,
/// not from the operation's spelling.
@Suite struct TransportErrorTests {
    @Test func anErrorSaysWhichWayItFacedItsPeer() {
        let send = TransportError(.peerGone, rank: 2, peer: 3, operation: .send)
        #expect(send.description == "rank 2: send to rank 3: peer closed the connection or died")
        let receive = TransportError(.timedOut, rank: 2, peer: 1, operation: .receive, peerAddress: "10.0.0.5:41234")
        #expect(receive.description == "rank 2: receive from rank 1 (10.0.0.5:41234): timed out")
        #expect(receive.summary == "receive from rank 1 (10.0.0.5:41234): timed out")
        let connect = TransportError(.timedOut, rank: 0, peer: 4, operation: .connect)
        #expect(connect.description == "rank 0: connect to rank 4: timed out")
        // A custom operation faces its peer only when it says so; a name that merely starts
        // like "send" does not.
        let sendingLike = TransportError(.closed, rank: 1, peer: 0, operation: TransportOperation("sendfile"))
        #expect(sendingLike.description == "rank 1: sendfile from rank 0: transport closed")
        let pushing = TransportError(.closed, rank: 1, peer: 0, operation: TransportOperation("push", towardsPeer: true))
        #expect(pushing.description == "rank 1: push to rank 0: transport closed")
    }

    @Test func aLiteralIsTheLibrarysOperationOfThatName() {
        let literal: TransportOperation = "send"
        #expect(literal == .send && literal.towardsPeer)
        let other: TransportOperation = "flush"
        #expect(other.name == "flush" && !other.towardsPeer)
        #expect(RDMATransport.agreementOperation == .rdmaSetUpElsewhere)
    }
}
