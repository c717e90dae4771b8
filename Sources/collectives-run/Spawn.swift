import CollectivesSystem

#if canImport(Glibc)
import Glibc
#endif

/// Starts `command` (found on `PATH`) with `environment` and the file actions given, leading a
/// process group of its own (so that stopping it stops what it started too), with no signal
/// blocked and the stop signals and SIGPIPE (which the launcher ignores) at their defaults.
/// Returns its pid, or `posix_spawn`'s error code as a `SystemError`.
func spawnInOwnGroup(_ command: [String], environment: [String: String], actions: inout posix_spawn_file_actions_t) throws(SystemError) -> pid_t {
    let arguments = command.map { strdup($0) } + [nil]
    let variables = environment.map { strdup("\($0.key)=\($0.value)") } + [nil]
    defer {
        for pointer in arguments { free(pointer) }
        for pointer in variables { free(pointer) }
    }
    var attributes = posix_spawnattr_t()
    posix_spawnattr_init(&attributes)
    defer { posix_spawnattr_destroy(&attributes) }
    var none = sigset_t(), defaults = sigset_t()
    sigemptyset(&none)
    sigemptyset(&defaults)
    for signalNumber in [SIGINT, SIGTERM, SIGHUP, SIGPIPE] { sigaddset(&defaults, signalNumber) }
    posix_spawnattr_setsigmask(&attributes, &none)
    posix_spawnattr_setsigdefault(&attributes, &defaults)
    posix_spawnattr_setflags(&attributes, Int16(POSIX_SPAWN_SETPGROUP | POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF))
    posix_spawnattr_setpgroup(&attributes, 0)
    var pid: pid_t = 0
    let rc = posix_spawnp(&pid, command[0], &actions, &attributes, arguments, variables)
    guard rc == 0 else { throw SystemError(call: "posix_spawn(\(command[0]))", errno: rc) }
    return pid
}
