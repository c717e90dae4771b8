#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// An IPv4 or IPv6 socket address (host and port), as the kernel takes it.
///
/// Its text form is `1.2.3.4:5` or `[::1]:5`; ``init(parsing:)`` reads it back.
public struct SocketAddress: Sendable, Hashable, CustomStringConvertible {
    /// The address as stored; only the first ``length`` bytes matter.
    package private(set) var storage: sockaddr_storage
    /// The length of the `sockaddr` in ``storage``.
    package let length: socklen_t

    /// Wraps a raw socket address.
    package init(storage: sockaddr_storage, length: socklen_t) {
        self.storage = storage
        self.length = length
    }

    /// The address family (`AF_INET` or `AF_INET6`).
    package var family: Int32 { Int32(storage.ss_family) }

    /// The port in host byte order.
    public var port: UInt16 {
        get {
            withUnsafeBytes(of: storage) { raw in
                if family == AF_INET6 {
                    return UInt16(bigEndian: raw.load(as: sockaddr_in6.self).sin6_port)
                }
                return UInt16(bigEndian: raw.load(as: sockaddr_in.self).sin_port)
            }
        }
        set {
            let isV6 = family == AF_INET6
            withUnsafeMutableBytes(of: &storage) { raw in
                if isV6 {
                    var a = raw.load(as: sockaddr_in6.self)
                    a.sin6_port = newValue.bigEndian
                    raw.storeBytes(of: a, as: sockaddr_in6.self)
                } else {
                    var a = raw.load(as: sockaddr_in.self)
                    a.sin_port = newValue.bigEndian
                    raw.storeBytes(of: a, as: sockaddr_in.self)
                }
            }
        }
    }

    /// The host part as text, without the port.
    public var host: String {
        var buffer = [CChar](repeating: 0, count: Int(INET6_ADDRSTRLEN) + 1)
        let isV6 = family == AF_INET6
        withUnsafeBytes(of: storage) { raw in
            if isV6 {
                var a = raw.load(as: sockaddr_in6.self).sin6_addr
                _ = inet_ntop(AF_INET6, &a, &buffer, socklen_t(buffer.count))
            } else {
                var a = raw.load(as: sockaddr_in.self).sin_addr
                _ = inet_ntop(AF_INET, &a, &buffer, socklen_t(buffer.count))
            }
        }
        return String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }

    /// Whether this is a loopback address (127.0.0.0/8 or ::1).
    package var isLoopback: Bool {
        withUnsafeBytes(of: storage) { raw in
            if family == AF_INET6 {
                let a = raw.load(as: sockaddr_in6.self).sin6_addr
                return withUnsafeBytes(of: a) { b in b.prefix(15).allSatisfy { $0 == 0 } && b[15] == 1 }
            }
            let a = UInt32(bigEndian: raw.load(as: sockaddr_in.self).sin_addr.s_addr)
            return a >> 24 == 127
        }
    }

    /// Whether this is an IPv6 link-local address (fe80::/10), usable only with a scope.
    package var isLinkLocal: Bool {
        guard family == AF_INET6 else { return false }
        return withUnsafeBytes(of: storage) { raw in
            let a = raw.load(as: sockaddr_in6.self).sin6_addr
            return withUnsafeBytes(of: a) { b in b[0] == 0xFE && b[1] & 0xC0 == 0x80 }
        }
    }

    /// Whether this is an IPv6 address.
    package var isIPv6: Bool { family == AF_INET6 }

    /// Whether this is the wildcard address (0.0.0.0 or ::).
    package var isWildcard: Bool {
        withUnsafeBytes(of: storage) { raw in
            if family == AF_INET6 {
                let a = raw.load(as: sockaddr_in6.self).sin6_addr
                return withUnsafeBytes(of: a) { b in b.allSatisfy { $0 == 0 } }
            }
            return raw.load(as: sockaddr_in.self).sin_addr.s_addr == 0
        }
    }

    public var description: String {
        family == AF_INET6 ? "[\(host)]:\(port)" : "\(host):\(port)"
    }

    /// Runs `body` with the address as a `sockaddr` pointer and its length.
    package func withSockAddr<R>(_ body: (UnsafePointer<sockaddr>, socklen_t) throws -> R) rethrows -> R {
        try withUnsafeBytes(of: storage) { raw in
            try body(raw.baseAddress!.assumingMemoryBound(to: sockaddr.self), length)
        }
    }

    public static func == (lhs: SocketAddress, rhs: SocketAddress) -> Bool {
        lhs.description == rhs.description
    }

    public func hash(into hasher: inout Hasher) { hasher.combine(description) }

    /// The IPv4 wildcard address with `port`.
    public static func anyIPv4(port: UInt16) -> SocketAddress {
        var a = sockaddr_in()
        a.sin_family = sa_family_t(AF_INET)
        a.sin_port = port.bigEndian
        a.sin_addr.s_addr = 0
        return SocketAddress(sockaddrIn: a)
    }

    /// The IPv4 loopback address with `port`.
    public static func loopback(port: UInt16) -> SocketAddress {
        var a = sockaddr_in()
        a.sin_family = sa_family_t(AF_INET)
        a.sin_port = port.bigEndian
        a.sin_addr.s_addr = UInt32(0x7f00_0001).bigEndian
        return SocketAddress(sockaddrIn: a)
    }

    init(sockaddrIn a: sockaddr_in) {
        var s = sockaddr_storage()
        withUnsafeMutableBytes(of: &s) { $0.storeBytes(of: a, as: sockaddr_in.self) }
        self.init(storage: s, length: socklen_t(MemoryLayout<sockaddr_in>.size))
    }

    /// Parses `host:port`, `[v6]:port` or a numeric host with `defaultPort`. Only numeric hosts:
    /// use ``resolve(host:port:)`` for names.
    public init?(parsing text: String, defaultPort: UInt16? = nil) {
        var host = Substring(text)
        var port = defaultPort
        if host.hasPrefix("[") {
            guard let close = host.firstIndex(of: "]") else { return nil }
            let rest = host[host.index(after: close)...]
            host = host[host.index(after: host.startIndex)..<close]
            if rest.hasPrefix(":") { port = UInt16(rest.dropFirst()) } else if !rest.isEmpty { return nil }
        } else if host.filter({ $0 == ":" }).count == 1, let colon = host.lastIndex(of: ":") {
            port = UInt16(host[host.index(after: colon)...])
            host = host[..<colon]
        }
        guard let port else { return nil }
        var v4 = in_addr()
        if inet_pton(AF_INET, String(host), &v4) == 1 {
            var a = sockaddr_in()
            a.sin_family = sa_family_t(AF_INET)
            a.sin_port = port.bigEndian
            a.sin_addr = v4
            self.init(sockaddrIn: a)
            return
        }
        var v6 = in6_addr()
        if inet_pton(AF_INET6, String(host), &v6) == 1 {
            var a = sockaddr_in6()
            a.sin6_family = sa_family_t(AF_INET6)
            a.sin6_port = port.bigEndian
            a.sin6_addr = v6
            var s = sockaddr_storage()
            withUnsafeMutableBytes(of: &s) { $0.storeBytes(of: a, as: sockaddr_in6.self) }
            self.init(storage: s, length: socklen_t(MemoryLayout<sockaddr_in6>.size))
            return
        }
        return nil
    }

    /// Resolves a host name or numeric address with `getaddrinfo`, IPv4 first.
    package static func resolve(host: String, port: UInt16) throws(SystemError) -> [SocketAddress] {
        if let numeric = SocketAddress(parsing: host.contains(":") && !host.hasPrefix("[") ? "[\(host)]" : host,
                                       defaultPort: port) {
            return [numeric]
        }
        var hints = addrinfo()
        hints.ai_socktype = socketStreamType
        hints.ai_family = AF_UNSPEC
        var list: UnsafeMutablePointer<addrinfo>?
        let rc = getaddrinfo(host, String(port), &hints, &list)
        guard rc == 0, let first = list else {
            let text = rc == 0 ? "no address" : String(cString: gai_strerror(rc))
            _ = text
            throw SystemError(call: "getaddrinfo(\(host)): \(text)", errno: rc == EAI_SYSTEM ? errno : 0)
        }
        defer { freeaddrinfo(first) }
        var result: [SocketAddress] = []
        var node: UnsafeMutablePointer<addrinfo>? = first
        while let n = node {
            if let addr = n.pointee.ai_addr, n.pointee.ai_family == AF_INET || n.pointee.ai_family == AF_INET6 {
                var s = sockaddr_storage()
                withUnsafeMutableBytes(of: &s) { dst in
                    dst.copyMemory(from: UnsafeRawBufferPointer(start: addr, count: Int(n.pointee.ai_addrlen)))
                }
                let a = SocketAddress(storage: s, length: n.pointee.ai_addrlen)
                if !result.contains(a) { result.append(a) }
            }
            node = n.pointee.ai_next
        }
        return result.sorted { $0.family == AF_INET && $1.family != AF_INET }
    }

    /// The address of interface `name` (exactly that name): its first IPv4 address, else its
    /// first routable IPv6 one; `nil` when it has none (or is down). ``InterfaceFilter`` takes
    /// NCCL's syntax (prefixes, exclusions, lists).
    package static func ofInterface(named name: String) throws(SystemError) -> SocketAddress? {
        InterfaceFilter("=" + name)?.choose(from: try InterfaceFilter.systemInterfaces())?.address
    }
}

/// `SOCK_STREAM` as an `Int32` on every platform (Glibc imports it as an enum).
package let socketStreamType: Int32 = {
    #if canImport(Glibc)
    return Int32(SOCK_STREAM.rawValue)
    #else
    return SOCK_STREAM
    #endif
}()
