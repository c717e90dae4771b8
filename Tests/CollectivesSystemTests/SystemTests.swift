import CollectivesSystem
import Testing

@Suite struct SystemTests {
    @Test func socketAddressesParseAndPrint() {
        #expect(SocketAddress(parsing: "127.0.0.1:80")?.description == "127.0.0.1:80")
        #expect(SocketAddress(parsing: "[::1]:443")?.description == "[::1]:443")
        #expect(SocketAddress(parsing: "10.0.0.1", defaultPort: 5)?.port == 5)
        #expect(SocketAddress(parsing: "nonsense:1") == nil)
        #expect(SocketAddress(parsing: "1.2.3.4") == nil)
        #expect(SocketAddress(parsing: "127.0.0.2:1")?.isLoopback == true)
        #expect(SocketAddress(parsing: "10.0.0.2:1")?.isLoopback == false)
        #expect(SocketAddress.anyIPv4(port: 3).isWildcard)
    }

    @Test func resolvesLocalhost() throws {
        let addresses = try SocketAddress.resolve(host: "localhost", port: 9)
        #expect(addresses.contains { $0.isLoopback })
    }

    @Test func deadlines() {
        #expect(Deadline.after(seconds: -1).hasPassed)
        #expect(!Deadline.after(seconds: 60).hasPassed)
        #expect(Deadline.never.pollTimeoutMilliseconds == -1)
        #expect(Deadline.after(seconds: 0.0005).pollTimeoutMilliseconds <= 1)
        #expect(Deadline.after(seconds: .infinity) == .never)
    }

    @Test func byteReaderNeverReadsPastTheEnd() {
        var w = ByteWriter()
        w.write(UInt32(7))
        w.writeString("hi")
        var r = ByteReader(w.bytes)
        #expect(r.read(UInt32.self) == 7)
        #expect(r.readString() == "hi")
        #expect(r.read(UInt8.self) == nil)
        var absurd = ByteReader([0xff, 0xff, 0xff, 0x7f, 1, 2])
        #expect(absurd.readBytes() == nil)
    }

    @Test func connectingToNothingFailsFast() throws {
        let listener = try Socket.listen(on: .loopback(port: 0))
        let address = try listener.localAddress()
        listener.close()
        #expect(throws: SocketError.self) { _ = try Socket.connect(to: address, deadline: .after(seconds: 5)) }
    }
}
