import CVerbs

/// RDMA verbs as this process sees them: whether the library loads, which devices and ports
/// it finds.
///
/// `libibverbs.so.1` is opened at run time (never linked), so a machine without rdma-core
/// runs everything else; ``probe(libraryPath:)`` says in one line why verbs cannot be used.
package enum VerbsLibrary {
    /// The library name tried by default.
    package static let defaultPath = "libibverbs.so.1"

    /// Whether this build has verbs support (the header was installed when it was built).
    package static var isBuilt: Bool { collectives_verbs_built() != 0 }

    /// Loads the library; `nil` on success, else why not.
    package static func load(path: String = defaultPath) -> String? {
        var error = [CChar](repeating: 0, count: 512)
        guard collectives_verbs_load(path, &error, error.count) == 0 else { return text(error) }
        return nil
    }

    /// The devices the loaded library sees, by name; or why there are none.
    package static func devices() -> Result<[String], VerbsFailure> {
        var error = [CChar](repeating: 0, count: 512)
        let count = collectives_verbs_device_count(&error, error.count)
        guard count >= 0 else { return .failure(VerbsFailure(text(error))) }
        return .success((0..<Int(count)).map { index in
            var name = [CChar](repeating: 0, count: 128)
            return collectives_verbs_device_name(Int32(index), &name, name.count) == 0 ? text(name) : "device \(index)"
        })
    }

    /// Port `port` of device `device`.
    package static func port(device: Int, port: Int) -> Result<VerbsPort, VerbsFailure> {
        var info = collectives_verbs_port()
        var error = [CChar](repeating: 0, count: 512)
        guard collectives_verbs_query_port(Int32(device), Int32(port), &info, &error, error.count) == 0 else {
            return .failure(VerbsFailure(text(error)))
        }
        let gid = withUnsafeBytes(of: info.gid) { Array($0) }
        return .success(VerbsPort(isActive: info.state == 4, mtu: Int(info.active_mtu), lid: info.lid,
                                  isEthernet: info.link_layer == 2, gid: gid))
    }

    static func text(_ buffer: [CChar]) -> String {
        String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }
}

/// Why a verbs call failed, in the library's words.
package struct VerbsFailure: Error, Sendable, CustomStringConvertible {
    package let description: String
    package init(_ description: String) { self.description = description }
}

/// What a port says about itself.
package struct VerbsPort: Sendable, Hashable {
    package var isActive: Bool
    /// `enum ibv_mtu`: 1 = 256 bytes … 5 = 4096.
    package var mtu: Int
    package var lid: UInt16
    /// RoCE (addressed by GID) rather than InfiniBand (addressed by LID).
    package var isEthernet: Bool
    package var gid: [UInt8]

    package init(isActive: Bool, mtu: Int, lid: UInt16, isEthernet: Bool, gid: [UInt8]) {
        self.isActive = isActive
        self.mtu = mtu
        self.lid = lid
        self.isEthernet = isEthernet
        self.gid = gid
    }
}

/// Whether RDMA verbs can carry a job's data here, and why not.
package struct RDMAAvailability: Sendable {
    package var usable: Bool
    /// One line: the device and port found, or why there is none.
    package var reason: String
    /// The first device with an active port 1.
    package var device: Int?

    package init(usable: Bool, reason: String, device: Int? = nil) {
        self.usable = usable
        self.reason = reason
        self.device = device
    }

    package static func probe(libraryPath: String = VerbsLibrary.defaultPath) -> RDMAAvailability {
        guard VerbsLibrary.isBuilt else {
            return RDMAAvailability(usable: false, reason: "this build has no RDMA verbs support (libibverbs-dev was not installed)")
        }
        if let why = VerbsLibrary.load(path: libraryPath) {
            return RDMAAvailability(usable: false, reason: "no RDMA: cannot load \(libraryPath) (\(why))")
        }
        switch VerbsLibrary.devices() {
        case .failure(let error):
            let why = error.description == "Function not implemented" ? "the kernel has no RDMA subsystem" : error.description
            return RDMAAvailability(usable: false, reason: "no RDMA device (\(why))")
        case .success(let names) where names.isEmpty:
            return RDMAAvailability(usable: false, reason: "no RDMA device")
        case .success(let names):
            for (index, name) in names.enumerated() {
                if case .success(let port) = VerbsLibrary.port(device: index, port: 1), port.isActive {
                    return RDMAAvailability(usable: true, reason: "RDMA device \(name), port 1 active", device: index)
                }
            }
            return RDMAAvailability(usable: false, reason: "no active port on RDMA devices \(names.joined(separator: ", "))")
        }
    }
}
