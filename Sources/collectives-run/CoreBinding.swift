import ArgumentParser

/// `--bind-to`: how ranks are pinned to cores, as mpirun's option of that name.
enum CoreBinding: String, CaseIterable, ExpressibleByArgument {
    /// Each rank on one core, round robin over the cores the launcher may use, by local rank.
    case core
    /// Ranks run wherever the kernel puts them (the default).
    case none

    /// The core of the rank with `localRank` on its host, given the cores available there.
    func core(localRank: Int, of cores: [Int]) -> Int? {
        guard self == .core, !cores.isEmpty else { return nil }
        return cores[localRank % cores.count]
    }
}
