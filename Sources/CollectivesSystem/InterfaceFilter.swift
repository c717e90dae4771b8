#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Which network interfaces a rank may advertise, written as NCCL's `NCCL_SOCKET_IFNAME` is
/// (`COLLECTIVES_SOCKET_IFNAME`): a comma-separated list of name prefixes (`eth,ib`); with a
/// leading `=`, exact names (`=eth0,eth1`); with a leading `^`, prefixes (or, `^=`, exact names)
/// to exclude (`^docker,lo`).
package struct InterfaceFilter: Sendable, Hashable, CustomStringConvertible {
    package let names: [String]
    package let exact: Bool
    package let excludes: Bool
    package let text: String

    /// Parses a specification; `nil` for one that names nothing (`""`, `^`, `=`, `,`).
    package init?(_ text: String) {
        var rest = Substring(text.filter { $0 != " " })
        excludes = rest.hasPrefix("^")
        if excludes { rest = rest.dropFirst() }
        exact = rest.hasPrefix("=")
        if exact { rest = rest.dropFirst() }
        names = rest.split(separator: ",").map(String.init).filter { !$0.isEmpty }
        self.text = text
        if names.isEmpty { return nil }
    }

    package var description: String { text }

    /// Whether interface `name` passes the filter.
    package func admits(_ name: String) -> Bool {
        let listed = names.contains { exact ? name == $0 : name.hasPrefix($0) }
        return listed != excludes
    }

    /// The address to advertise among `interfaces` (name, address, in the system's order): the
    /// first IPv4 address of an admitted interface, else its first routable IPv6 address
    /// (link-local ones need a scope and are skipped). Loopback is admitted only when the filter
    /// lists it (`lo`, `=lo`), never as a default.
    package func choose(from interfaces: [(name: String, address: SocketAddress)]) -> (name: String, address: SocketAddress)? {
        let admitted = interfaces.filter { admits($0.name) && (!excludes || !$0.address.isLoopback) }
        return admitted.first { $0.address.family == AF_INET }
            ?? admitted.first { $0.address.family == AF_INET6 && !$0.address.isLinkLocal }
    }

    /// Every address of every interface that is up, in the system's order.
    package static func systemInterfaces() throws(SystemError) -> [(name: String, address: SocketAddress)] {
        var list: UnsafeMutablePointer<ifaddrs>?
        guard getifaddrs(&list) == 0, let first = list else { throw SystemError(call: "getifaddrs", errno: errno) }
        defer { freeifaddrs(first) }
        var result: [(name: String, address: SocketAddress)] = []
        var node: UnsafeMutablePointer<ifaddrs>? = first
        while let n = node {
            defer { node = n.pointee.ifa_next }
            guard let addr = n.pointee.ifa_addr, n.pointee.ifa_flags & UInt32(IFF_UP) != 0 else { continue }
            let family = Int32(addr.pointee.sa_family)
            let size: Int
            switch family {
            case AF_INET: size = MemoryLayout<sockaddr_in>.size
            case AF_INET6: size = MemoryLayout<sockaddr_in6>.size
            default: continue
            }
            var storage = sockaddr_storage()
            withUnsafeMutableBytes(of: &storage) { $0.copyMemory(from: UnsafeRawBufferPointer(start: addr, count: size)) }
            result.append((String(cString: n.pointee.ifa_name), SocketAddress(storage: storage, length: socklen_t(size))))
        }
        return result
    }
}

/// A range of ports for listening sockets (`COLLECTIVES_PORT_RANGE=lo-hi`), for clusters whose
/// firewalls open only some.
public struct PortRange: Sendable, Hashable, CustomStringConvertible {
    public let lowest: UInt16
    public let highest: UInt16

    /// Parses `lo-hi` (1 ≤ lo ≤ hi ≤ 65535); `nil` otherwise.
    public init?(_ text: String) {
        let parts = text.split(separator: "-", omittingEmptySubsequences: false)
        guard parts.count == 2, let lo = UInt16(parts[0].filter { $0 != " " }), let hi = UInt16(parts[1].filter { $0 != " " }),
              lo >= 1, lo <= hi else { return nil }
        lowest = lo
        highest = hi
    }

    public var description: String { "\(lowest)-\(highest)" }

    /// The ports in an order that starts at a random one, so that ranks starting together do
    /// not all try the same port first.
    package func shuffledOrder() -> [UInt16] {
        let count = Int(highest) - Int(lowest) + 1
        let start = Int.random(in: 0..<count)
        return (0..<count).map { UInt16(Int(lowest) + (start + $0) % count) }
    }
}

extension Socket {
    /// A listening socket on `address` with a port from `range` (the first that is free), or
    /// with `address`'s own port when `range` is nil. None free is `EADDRINUSE` naming the range.
    package static func listen(on address: SocketAddress, ports range: PortRange?, backlog: Int32 = 1024) throws(SocketError) -> Socket {
        guard let range, address.port == 0 else { return try listen(on: address, backlog: backlog) }
        for port in range.shuffledOrder() {
            var candidate = address
            candidate.port = port
            do {
                return try listen(on: candidate, backlog: backlog)
            } catch {
                if case .system(let e) = error, e.errno == EADDRINUSE || e.errno == EACCES { continue }
                throw error
            }
        }
        throw .system(SystemError(call: "bind", errno: EADDRINUSE, remote: "\(address) with a port in COLLECTIVES_PORT_RANGE=\(range)"))
    }
}
