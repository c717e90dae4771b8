import CollectivesSystem
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// The newer API between processes over real sockets: the new element types and
/// operations through every collective, the variable-size and object collectives, all-reduce
/// with the caller's non-commutative reductions, and a job that finds its ranks through a
/// `FileStore` in a shared directory.
@Suite(.serialized) struct APITests {
    /// Every new type × every operation that applies × every collective, in place and out of
    /// place, on counts 0, 1, fewer than the ranks and not powers of two.
    @Test(arguments: ["tcp", "shm"])
    func newTypesAndOperationsThroughEveryCollective(transport: String) throws {
        let result = try run([Products.path("collectives-run"), "-n", "3", "--", Products.path("collectives-check"),
                              "--collectives", "all", "--counts", "0", "1", "2", "1001", "70001",
                              "--types", "bfloat16", "int8", "uint8", "uint32", "uint64", "bool", "--out-of-place"],
                             environment: ["COLLECTIVES_TIMEOUT": "60", "COLLECTIVES_TRANSPORT": transport], timeout: 600)
        #expect(result.status == 0, "\(result.output)")
        #expect(result.output.split(separator: "\n").filter { $0.hasSuffix(" 2100 passed, 0 failed") }.count == 3, "\(result.output)")
    }

    /// The variable-size collectives (every type; array and buffer forms), the async and start…
    /// forms of every collective, fused groups, custom reductions (elements and buffers, several
    /// pieces for the large count) and object collectives.
    @Test(arguments: [2, 3, 4])
    func variableObjectAndCustomCollectives(ranks: Int) throws {
        let result = try run([Products.path("collectives-run"), "-n", String(ranks), "--", Products.path("collectives-check"),
                              "--extended", "--counts", "0", "1", "2", "5", "1001"],
                             environment: ["COLLECTIVES_TIMEOUT": "60"], timeout: 600)
        #expect(result.status == 0, "\(result.output)")
        #expect(result.output.split(separator: "\n").filter { $0.hasSuffix(" 230 passed, 0 failed") }.count == ranks, "\(result.output)")
        // Several 8 MiB pieces for the custom reductions.
        let large = try run([Products.path("collectives-run"), "-n", String(ranks), "--", Products.path("collectives-check"),
                             "--extended", "--counts", "1000003", "--types", "float64"],
                            environment: ["COLLECTIVES_TIMEOUT": "60"], timeout: 600)
        #expect(large.status == 0, "\(large.output)")
        #expect(large.output.split(separator: "\n").filter { $0.hasSuffix(" 6 passed, 0 failed") }.count == ranks, "\(large.output)")
    }

    /// A job whose ranks meet through a FileStore in a directory (no server, no port), then run
    /// collectives over TCP and the extended checks.
    @Test func aFileStoreJob() throws {
        let directory = "/tmp/collectives-filestore-\(getpid())"
        defer { _ = try? run(["/bin/rm", "-rf", directory]) }
        let result = try run([Products.path("collectives-run"), "-n", "3", "--", Products.path("collectives-check"),
                              "--file-store", directory, "--collectives", "all", "--counts", "0", "2", "1001",
                              "--types", "float32", "bfloat16", "int8"],
                             environment: ["COLLECTIVES_TIMEOUT": "60", "COLLECTIVES_LOG_LEVEL": "debug"])
        #expect(result.status == 0, "\(result.output)")
        #expect(result.output.split(separator: "\n").filter { $0.hasSuffix(" 279 passed, 0 failed") }.count == 3, "\(result.output)")
        #expect(result.output.split(separator: "\n").filter { $0.contains("rendezvous through a FileStore") }.count == 3, "\(result.output)")
        let extended = try run([Products.path("collectives-run"), "-n", "3", "--", Products.path("collectives-check"),
                                "--file-store", directory + "-2", "--extended", "--counts", "0", "3"],
                               environment: ["COLLECTIVES_TIMEOUT": "60"])
        _ = try? run(["/bin/rm", "-rf", directory + "-2"])
        #expect(extended.status == 0, "\(extended.output)")
        #expect(extended.output.split(separator: "\n").filter { $0.hasSuffix(" 92 passed, 0 failed") }.count == 3, "\(extended.output)")
    }
}

/// The example program in Examples/api-tour, which uses every new call through
/// `import Collectives` only, run as a user would.
@Suite(.serialized) struct ExampleProgramTests {
    @Test func theAPITourRunsUnderTheLauncher() throws {
        let directory = "/tmp/collectives-api-tour-\(getpid())"
        defer { _ = try? run(["/bin/rm", "-rf", directory]) }
        let result = try run([Products.path("collectives-run"), "-n", "3", "--", Products.path("api-tour"), directory],
                             environment: ["COLLECTIVES_TIMEOUT": "60"])
        #expect(result.status == 0, "\(result.output)")
        #expect(result.output.split(separator: "\n").filter { $0.hasSuffix("api tour ok") }.count == 3, "\(result.output)")
    }
}

/// The package as a user adopts it: the version every executable prints is the CHANGELOG's
/// newest numbered entry (an "Unreleased" section above it collects what comes next).
@Suite struct PackageTests {
    @Test func everyExecutablePrintsTheChangelogsVersion() throws {
        let changelog = try TrainingProcessTests().readFile(Products.repositoryRoot + "/CHANGELOG.md")
        let heading = changelog.split(separator: "\n").first { $0.hasPrefix("## ") && !$0.hasPrefix("## Unreleased") }
        let version = heading.flatMap { $0.dropFirst(3).split(separator: " ").first }.map(String.init)
        #expect(version != nil, "no '## VERSION' heading in CHANGELOG.md")
        for name in ["collectives-run", "collectives-bench", "collectives-check", "mnist-train"] {
            let printed = try run([Products.path(name), "--version"], timeout: 30)
            #expect(printed.status == 0 && printed.output.split(separator: "\n").first.map(String.init) == version,
                    "\(name) --version printed \(printed.output), CHANGELOG.md's newest is \(String(describing: version))")
        }
    }

    /// README.md's program is Examples/readme-example/main.swift, word for word, and runs on 2
    /// ranks as it says.
    @Test func theReadmesProgramIsTheExampleAndRuns() throws {
        let readme = try TrainingProcessTests().readFile(Products.repositoryRoot + "/README.md")
        let example = try TrainingProcessTests().readFile(Products.repositoryRoot + "/Examples/readme-example/main.swift")
        let marker = "<!-- Examples/readme-example/main.swift -->\n```swift\n"
        let block = readme.split(separator: marker, maxSplits: 1, omittingEmptySubsequences: false).dropFirst().first
            .flatMap { $0.split(separator: "```", maxSplits: 1, omittingEmptySubsequences: false).first }.map(String.init)
        #expect(block == example, "README.md's program (after \(marker)) differs from Examples/readme-example/main.swift")
        let result = try run([Products.path("collectives-run"), "-n", "2", "--", Products.path("readme-example")], timeout: 120)
        #expect(result.status == 0, "\(result.output)")
        for rank in 0..<2 { #expect(result.output.contains("[rank \(rank)] rank \(rank) of 2: every element is 3.0"), "\(result.output)") }
    }
}
