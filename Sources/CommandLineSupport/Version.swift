import Collectives

/// The version of swift-collectives these executables were built from: the library's
/// (``Collectives/collectivesLibraryVersion``, the newest numbered entry of CHANGELOG.md). Every
/// executable prints it with `--version`.
package let collectivesVersion = collectivesLibraryVersion
