import Foundation
import Testing

/// Every key the library writes to or reads from a store is spelled once, in
/// `CollectivesRendezvous/StoreKeys.swift`, where it is documented: no other source file passes
/// a string literal as a store key.
@Suite struct StoreKeySchemaTests {
    @Test func noStoreKeyIsSpelledOutsideTheSchema() throws {
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent().path
        // A call on a store (`store.set("…"`, `base.check(["…"`…) whose key is a literal.
        let literalKey = try Regex(#"\b\w*(?:store|Store|base)\)?\s*\.(?:set|add|get|getString|check|wait|compareAndSet|delete\w*)\(\s*\[?\s*""#)
        var spelled: [String] = []
        guard let files = FileManager.default.enumerator(atPath: root + "/Sources") else {
            Issue.record("no Sources folder under \(root)")
            return
        }
        var read = 0
        while let file = files.nextObject() as? String {
            guard file.hasSuffix(".swift"), file != "CollectivesRendezvous/StoreKeys.swift" else { continue }
            read += 1
            let text = try String(contentsOfFile: root + "/Sources/" + file, encoding: .utf8)
            for (number, line) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() where line.contains(literalKey) {
                spelled.append("Sources/\(file):\(number + 1): \(line.trimmingCharacters(in: .whitespaces))")
            }
        }
        #expect(read > 100, "only \(read) source files were read")
        #expect(spelled.isEmpty, "store keys spelled outside StoreKeys.swift:\n\(spelled.joined(separator: "\n"))")
    }
}
