/// The version of swift-collectives these executables were built from: the newest entry of
/// CHANGELOG.md (a test checks that the two agree). Every executable prints it with `--version`.
public let collectivesVersion = "0.1.0"
