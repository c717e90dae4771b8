import CollectivesSystem
import Foundation
import Testing

/// One table of every `COLLECTIVES_*` variable: the sources spell no name outside it, and
/// docs/environment.md is that table.
@Suite struct EnvironmentTableTests {
    /// The package's root, from this file's path.
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent().path

    @Test func namesAreUniqueAndDocumented() {
        let names = EnvironmentVariable.all.map(\.name)
        #expect(Set(names).count == names.count, "a name twice in the table")
        #expect(names.allSatisfy { $0.hasPrefix("COLLECTIVES_") })
        #expect(EnvironmentVariable.all.allSatisfy { !$0.meaning.isEmpty && !$0.defaultValue.isEmpty })
    }

    /// A `"COLLECTIVES_…"` literal outside the table is a variable read or set behind its back.
    @Test func theSourcesNameVariablesOnlyThroughTheTable() throws {
        let sources = Self.root + "/Sources"
        let enumerator = try #require(FileManager.default.enumerator(atPath: sources))
        let literal = try Regex(#""COLLECTIVES_[A-Z0-9_]+""#)
        var found: [String] = []
        while let path = enumerator.nextObject() as? String {
            guard path.hasSuffix(".swift") || path.hasSuffix(".c") || path.hasSuffix(".h"), !path.contains("Settings/EnvironmentVariable") else { continue }
            let text = try String(contentsOfFile: sources + "/" + path, encoding: .utf8)
            for match in text.matches(of: literal) { found.append("\(path): \(text[match.range])") }
        }
        #expect(found.isEmpty, "spelled outside EnvironmentVariable's table:\n\(found.joined(separator: "\n"))")
    }

    @Test func theDocumentIsTheTable() throws {
        let document = try String(contentsOfFile: Self.root + "/docs/environment.md", encoding: .utf8)
        let begin = "<!-- generated from EnvironmentVariable.all (collectives-run --help-environment): -->\n"
        let end = "\n<!-- end of the generated table -->"
        let start = try #require(document.range(of: begin), "docs/environment.md has no generated table")
        let stop = try #require(document.range(of: end, range: start.upperBound..<document.endIndex))
        let table = String(document[start.upperBound..<stop.lowerBound])
        #expect(table == EnvironmentVariable.markdownTable,
                "docs/environment.md differs from the table; replace its table with `collectives-run --help-environment`:\n\(EnvironmentVariable.markdownTable)")
    }
}
