import CollectivesSystem
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// The C interface as a C program uses it: include/collectives.h compiles as C11 and C++17 with
/// every warning an error, and a C program (Tests/CInterface/collectives_c_test.c) linked
/// against libSwiftCollectivesC checks every call under the launcher, against values it computes
/// itself.
@Suite struct CInterfaceTests {
    static var header: String { Products.repositoryRoot + "/include/collectives.h" }
    static var library: String { Products.path("libSwiftCollectivesC.so") }

    @Test(Capability.required(Capability.tool("cc") && Capability.tool("c++"), "needs cc and c++ (scripts/setup.sh --for-tests installs g++)"))
    func theHeaderCompilesAsC11AndCxx17WithWarningsAsErrors() throws {
        for (compiler, language) in [("/usr/bin/cc", ["-std=c11", "-x", "c"]), ("/usr/bin/c++", ["-std=c++17", "-x", "c++"])] {
            let result = try run([compiler] + language + ["-Wall", "-Wextra", "-Wpedantic", "-Werror", "-fsyntax-only", Self.header], timeout: 60)
            #expect(result.status == 0, "\(compiler): \(result.output)")
        }
    }

    @Test(Capability.required(Capability.tool("cc"), "needs cc"), arguments: [2, 3, 4])
    func everyCallFromAProgramInC(ranks: Int) throws {
        try #require(access(Self.library, R_OK) == 0, "no \(Self.library): swift build -c release --product SwiftCollectivesC")
        let program = "/tmp/collectives-c-test-\(getpid())-\(ranks)"
        defer { unlink(program) }
        let compiled = try run(["/usr/bin/cc", "-std=c11", "-Wall", "-Wextra", "-Werror", "-I", Products.repositoryRoot + "/include",
                                Products.repositoryRoot + "/Tests/CInterface/collectives_c_test.c", "-o", program,
                                "-L", Products.directory, "-lSwiftCollectivesC", "-Wl,-rpath," + Products.directory, "-lm"], timeout: 120)
        try #require(compiled.status == 0, "\(compiled.output)")
        let result = try run([Products.path("collectives-run"), "-n", String(ranks), "--", program],
                             environment: ["COLLECTIVES_TIMEOUT": "60"], timeout: 300)
        #expect(result.status == 0, "\(result.output)")
        for rank in 0..<ranks {
            #expect(result.output.contains("rank \(rank): c interface ok"), "rank \(rank): \(result.output)")
        }
    }
}
