import Foundation
import Testing

/// Every module of the package declares, in Package.swift, each module of the package or of
/// its dependencies that it imports (a module that leans on another's dependency builds by
/// accident, and breaks when that one changes).
@Suite struct PackageImportsTests {
    /// The modules a target may import without declaring them: the platform's.
    static let platform: Set<String> = ["Glibc", "Darwin", "Foundation", "FoundationEssentials", "Synchronization", "Dispatch", "Testing"]

    /// Each target's name and the modules its dependencies bring (targets, and products by name).
    static func declared(in manifest: String) throws -> [String: Set<String>] {
        let target = try Regex(#"\.(?:executableTarget|target)\(\s*name: "([^"]+)",\s*dependencies: \[([^\]]*)\]"#)
        let quoted = try Regex(#"(?:name: )?"([A-Za-z]+)""#)
        var result: [String: Set<String>] = [:]
        for match in manifest.matches(of: target) {
            let name = String(match.output[1].substring!)
            let list = String(match.output[2].substring!)
            // `.product(name: "Logging", package: "swift-log")` names the module "Logging";
            // the package's name is skipped (it has a dash, so the pattern does not take it).
            result[name] = Set(list.matches(of: quoted).map { String($0.output[1].substring!) })
        }
        return result
    }

    @Test func everyImportIsDeclared() throws {
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent().path
        let manifest = try String(contentsOfFile: root + "/Package.swift", encoding: .utf8)
        let declared = try Self.declared(in: manifest)
        #expect(declared["Collectives"]?.contains("CollectivesTransport") == true, "the manifest's targets were not read: \(declared)")
        let paths = ["api-tour": "Examples/api-tour", "hang-demo": "Examples/hang-demo", "readme-example": "Examples/readme-example"]
        let importLine = try Regex(#"(?m)^import ([A-Za-z]+)"#)
        var undeclared: [String] = []
        for (target, modules) in declared where target != "CollectivesTestSupport" {
            let folder = root + "/" + (paths[target] ?? "Sources/" + target)
            guard let files = FileManager.default.enumerator(atPath: folder) else { continue }
            while let file = files.nextObject() as? String {
                guard file.hasSuffix(".swift") else { continue }
                let text = try String(contentsOfFile: folder + "/" + file, encoding: .utf8)
                for match in text.matches(of: importLine) {
                    let module = String(match.output[1].substring!)
                    if module != target && !Self.platform.contains(module) && !modules.contains(module) {
                        undeclared.append("\(target)/\(file) imports \(module)")
                    }
                }
            }
        }
        #expect(undeclared.isEmpty, "imports not declared in Package.swift:\n\(undeclared.sorted().joined(separator: "\n"))")
    }

    /// The C library, and the C shim of kernel calls and shared-memory atomics, are one module's
    /// business: every other module reaches the kernel through `CollectivesSystem` (its calls
    /// retry `EINTR` and fail with errors that name the call).
    @Test func onlyTheSystemModuleImportsTheCLibrary() throws {
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent().path
        let importLine = try Regex(#"(?m)^\s*(?:@preconcurrency\s+)?import\s+(?:Glibc|Darwin|Musl|CCollectivesShim)\b"#)
        var importing: [String] = []
        // (The examples are programs of a user's, who may call the C library as they like.)
        for folder in ["Sources"] {
            guard let files = FileManager.default.enumerator(atPath: root + "/" + folder) else { continue }
            while let file = files.nextObject() as? String {
                guard file.hasSuffix(".swift"), !file.hasPrefix("CollectivesSystem/") else { continue }
                let text = try String(contentsOfFile: root + "/" + folder + "/" + file, encoding: .utf8)
                if text.contains(importLine) { importing.append(folder + "/" + file) }
            }
        }
        #expect(importing.isEmpty, "files outside CollectivesSystem that import the C library:\n\(importing.sorted().joined(separator: "\n"))")
    }
}
