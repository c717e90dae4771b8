#if canImport(Glibc)
import Glibc
#endif

/// One environment variable the package reads: its name, its default, what it means.
///
/// Every `COLLECTIVES_*` name the code reads is one of ``EnvironmentVariable/all``, named by
/// its constant (`EnvironmentVariable.timeout.name`), never spelled again: a test holds the
/// sources to that, and `docs/environment.md` is this table (another test compares them;
/// `collectives-run --help-environment` prints it).
package struct EnvironmentVariable: Sendable, Hashable {
    package let name: String
    /// The value it has when unset, in words (`300`, `none`, `the kernel's`).
    package let defaultValue: String
    /// What it does (Markdown).
    package let meaning: String
    /// Set by `collectives-run` (or another launcher) for its ranks, not by users.
    package let setByLauncher: Bool

    init(_ name: String, default defaultValue: String, _ meaning: String, setByLauncher: Bool = false) {
        self.name = name
        self.defaultValue = defaultValue
        self.meaning = meaning
        self.setByLauncher = setByLauncher
    }
}

extension EnvironmentVariable {
    /// Its value in this process's environment; `nil` when unset or empty.
    package var value: String? {
        guard let raw = getenv(name) else { return nil }
        let text = String(cString: raw)
        return text.isEmpty ? nil : text
    }
}

extension EnvironmentVariable {
    /// The table as Markdown: users' variables, then those launchers set.
    package static var markdownTable: String {
        func rows(_ variables: [EnvironmentVariable]) -> String {
            variables.map { "| `\($0.name)` | \($0.defaultValue) | \($0.meaning) |" }.joined(separator: "\n")
        }
        return """
        | variable | default | meaning |
        |---|---|---|
        \(rows(all.filter { !$0.setByLauncher }))

        Set by `collectives-run` for the ranks it starts (a program started otherwise may set them too):

        | variable | default | meaning |
        |---|---|---|
        \(rows(all.filter(\.setByLauncher)))
        """
    }
}
