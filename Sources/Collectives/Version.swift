/// The version of swift-collectives: the newest numbered entry of CHANGELOG.md (a test checks
/// that the two agree). Every executable prints it with `--version`; the C interface's
/// `collGetVersion()` returns it.
public let collectivesLibraryVersion = "0.1.0"
