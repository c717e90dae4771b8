import CollectivesSystem
import Testing

#if canImport(Glibc)
import Glibc
#endif

extension MultiProcessTests {
    /// Four ranks told they are on two hosts (`COLLECTIVES_HOST_ID`), every listening socket in
    /// `COLLECTIVES_PORT_RANGE`: each rank knows its host, the job runs over TCP (the hosts
    /// cannot share memory) and every collective is right.
    @Test func hostIdentitiesAndAPortRange() throws {
        let probe = try Socket.listen(on: .loopback(port: 0))
        let base = try probe.localAddress().port
        probe.close()
        let low = Int(base) > 64_000 ? 40_000 : Int(base)
        let range = "\(low)-\(low + 200)"
        let check = Products.path("collectives-check")
        let result = try run([Products.path("collectives-run"), "-n", "4", "--", "/bin/sh", "-c",
                              "COLLECTIVES_HOST_ID=h$((RANK / 2)) exec \(check) --collectives all --counts 0 3 1001 --types float32 --ops sum"],
                             environment: ["COLLECTIVES_TIMEOUT": "60", "COLLECTIVES_PORT_RANGE": range, "COLLECTIVES_LOG_LEVEL": "debug"],
                             timeout: 300)
        #expect(result.status == 0, "\(result.output)")
        #expect(result.output.split(separator: "\n").filter { $0.contains(" passed, 0 failed") }.count == 4, "\(result.output)")
        for rank in 0..<4 {
            #expect(result.output.contains("[rank \(rank)] ") && result.output.contains("rank \(rank): 2 ranks on this host (host \(rank / 2) of 2)"),
                    "rank \(rank): \(result.output)")
        }
        #expect(result.output.contains("connected (tcp)"), "\(result.output)")
        let ports = result.output.split(separator: "\n").compactMap { line -> Int? in
            guard line.contains(": listening on "), let address = line.split(separator: " ").last else { return nil }
            return address.split(separator: ":").last.flatMap { Int($0) }
        }
        #expect(ports.count == 4 && ports.allSatisfy { $0 >= low && $0 <= low + 200 }, "\(ports) not in \(range)")
    }

    /// `COLLECTIVES_SOCKET_IFNAME` takes prefixes and `=exact` names; one that matches nothing
    /// is an error that lists the interfaces there are.
    @Test func interfaceSelection() throws {
        let check = [Products.path("collectives-check"), "--counts", "3", "--types", "float32", "--ops", "sum"]
        for spec in ["lo", "=lo"] {
            let result = try run([Products.path("collectives-run"), "-n", "2", "--"] + check,
                                 environment: ["COLLECTIVES_TIMEOUT": "30", "COLLECTIVES_SOCKET_IFNAME": spec, "COLLECTIVES_TRANSPORT": "tcp",
                                               "COLLECTIVES_LOG_LEVEL": "debug"], timeout: 60)
            #expect(result.status == 0, "\(spec): \(result.output)")
            #expect(result.output.contains("COLLECTIVES_SOCKET_IFNAME=\(spec): interface lo, 127.0.0.1"), "\(spec): \(result.output)")
        }
        let none = try run([Products.path("collectives-run"), "-n", "2", "--"] + check,
                           environment: ["COLLECTIVES_TIMEOUT": "30", "COLLECTIVES_SOCKET_IFNAME": "=no-such-interface"], timeout: 60)
        #expect(none.status != 0)
        #expect(none.output.contains("COLLECTIVES_SOCKET_IFNAME==no-such-interface: no interface") && none.output.contains("lo"), "\(none.output)")
    }
}
