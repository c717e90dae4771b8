import CollectivesSystem

/// Where the ranks of a job run: hosts with a number of slots each, filled in order, as
/// mpirun's `--host a:4,b:4` and `--hostfile` place them.
struct HostList: Equatable {
    struct Entry: Equatable {
        var name: String
        var slots: Int
    }

    var entries: [Entry]

    /// Parses `a:4,b:4,c` (a host without `:slots` has one slot).
    init(hosts text: String) throws(HostListError) {
        entries = []
        for item in text.split(separator: ",", omittingEmptySubsequences: false) {
            let trimmed = item.filter { $0 != " " }
            guard !trimmed.isEmpty else { throw HostListError("--hosts \(text): an empty host name") }
            entries.append(try Self.entry(String(trimmed), context: "--hosts \(text)"))
        }
    }

    /// Parses a host file as mpirun reads one: a host a line, as `host`, `host:slots` or
    /// `host slots=N`; `#` starts a comment; blank lines are skipped.
    init(hostfile text: String, path: String) throws(HostListError) {
        entries = []
        for (number, rawLine) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
            let line = rawLine.split(separator: "#", maxSplits: 1, omittingEmptySubsequences: false).first ?? ""
            let words = line.split(whereSeparator: { $0 == " " || $0 == "\t" || $0 == "\r" })
            guard let first = words.first else { continue }
            let context = "\(path):\(number + 1)"
            var entry = try Self.entry(String(first), context: context)
            for word in words.dropFirst() {
                if word.hasPrefix("slots="), let slots = Int(word.dropFirst(6)), slots >= 1 {
                    entry.slots = slots
                } else if word.hasPrefix("max_slots=") {
                    continue
                } else {
                    throw HostListError("\(context): \"\(word)\" is not slots=N")
                }
            }
            entries.append(entry)
        }
        guard !entries.isEmpty else { throw HostListError("\(path) lists no host") }
    }

    /// `host`, `host:slots`, an IPv6 address alone, or `[IPv6]` with or without `:slots`.
    private static func entry(_ text: String, context: String) throws(HostListError) -> Entry {
        var name = Substring(text)
        var slotsText: Substring?
        if text.hasPrefix("[") {
            guard let close = text.firstIndex(of: "]") else { throw HostListError("\(context): \"\(text)\" has no closing ]") }
            name = text[text.index(after: text.startIndex)..<close]
            let rest = text[text.index(after: close)...]
            if !rest.isEmpty {
                guard rest.hasPrefix(":") else { throw HostListError("\(context): \"\(text)\" is not [address]:slots") }
                slotsText = rest.dropFirst()
            }
        } else if text.filter({ $0 == ":" }).count == 1, let colon = text.firstIndex(of: ":") {
            name = text[..<colon]
            slotsText = text[text.index(after: colon)...]
        } else if text.contains(":"), SocketAddress(parsing: text, defaultPort: 0)?.isIPv6 != true {
            throw HostListError("\(context): \"\(text)\" is neither host:slots nor an IPv6 address (write [address]:slots)")
        }
        var slots = 1
        if let slotsText {
            guard let value = Int(slotsText), value >= 1 else {
                throw HostListError("\(context): \"\(text)\" is not host:slots with slots ≥ 1")
            }
            slots = value
        }
        guard !name.isEmpty else { throw HostListError("\(context): an empty host name") }
        // The name is the launch agent's first argument: one starting with "-" would be read as
        // an option (ssh -oProxyCommand=… runs a command), so it is refused, as are names with
        // control characters.
        guard !name.hasPrefix("-") else {
            throw HostListError("\(context): host name \"\(name)\" begins with \"-\" (the launch agent would take it for an option)")
        }
        guard !name.unicodeScalars.contains(where: { $0.value < 0x20 || $0.value == 0x7F }) else {
            throw HostListError("\(context): host name \"\(name)\" holds a control character")
        }
        return Entry(name: String(name), slots: slots)
    }

    var totalSlots: Int { entries.reduce(0) { $0 + $1.slots } }

    /// The host of each of `ranks` ranks, filling each host's slots in order (a host listed
    /// twice gets both entries' slots); with `oversubscribe`, past the last slot the filling
    /// starts again from the first host.
    func place(ranks: Int, oversubscribe: Bool = false) throws(HostListError) -> [String] {
        guard ranks <= totalSlots || oversubscribe else {
            throw HostListError("-n \(ranks) ranks, but the hosts have \(totalSlots) slots (--oversubscribe places more)")
        }
        var placement: [String] = []
        while placement.count < ranks {
            for entry in entries {
                for _ in 0..<entry.slots where placement.count < ranks { placement.append(entry.name) }
            }
        }
        return placement
    }

    /// Whether ranks on `name` start directly instead of through the launch agent: `localhost`,
    /// this host's own name (as `hostname` prints it, or its first label), a loopback address, or
    /// an address of one of this host's interfaces.
    static func isThisHost(_ name: String) -> Bool {
        if name == "localhost" { return true }
        let own = thisHostName()
        if name == own || name == own.prefix(while: { $0 != "." }) { return true }
        guard let address = SocketAddress(parsing: name, defaultPort: 0) else { return false }
        if address.isLoopback { return true }
        // Without the list of interfaces (getifaddrs failed) an address counts as another host's:
        // its ranks then go through the agent, which reaches this host too.
        let interfaces = (try? InterfaceFilter.systemInterfaces()) ?? []
        return interfaces.contains { $0.address.host == address.host }
    }

    /// `HOST:PORT` or `[v6]:PORT` split into host and port (`--join`, `--rdzv-endpoint`); `nil`
    /// without a host or a port from 1 to 65535.
    static func hostAndPort(_ text: String) -> (host: String, port: UInt16)? {
        guard let colon = text.lastIndex(of: ":"), let port = UInt16(text[text.index(after: colon)...]), port > 0 else { return nil }
        var host = String(text[..<colon])
        if host.hasPrefix("[") && host.hasSuffix("]") { host = String(host.dropFirst().dropLast()) }
        return host.isEmpty ? nil : (host, port)
    }
}

struct HostListError: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}
