import Collectives

#if canImport(Glibc)
import Glibc
#endif

// A job that hangs on purpose, to see the flight recorder at work:
//
//     COLLECTIVES_TIMEOUT=5 collectives-run -n 4 --dump-on-timeout -- hang-demo 2 5
//
// Every rank makes all-reduces of 1000, 1001, … floats; rank STUCK (2) stops before its call
// number CALLS + 1 (6), as a rank stuck in its own code would, and waits there for a minute.
// The others time out in that call and dump their flight recorders; the launcher asks rank 2 for
// its own (SIGUSR1) and says that rank 2 is behind.
let arguments = CommandLine.arguments
guard arguments.count == 3, let stuck = Int(arguments[1]), let calls = Int(arguments[2]), calls >= 0 else {
    print("usage: hang-demo STUCK_RANK CALLS")
    exit(2)
}

/// Waits `seconds` whatever signals arrive (a signal cuts `sleep` short).
func stayStuck(seconds: Int) {
    let end = time(nil) + seconds
    while time(nil) < end { sleep(UInt32(end - time(nil))) }
}

do {
    let communicator = try Communicator.fromEnvironment()
    defer { communicator.close() }
    for call in 0...calls {
        if call == calls && communicator.rank == stuck {
            print("rank \(stuck): stuck after \(calls) all-reduces")
            fflush(nil)
            stayStuck(seconds: 60)
        }
        var values = [Float](repeating: 1, count: 1000 + call)
        try communicator.allReduce(&values, op: .sum)
    }
    print("rank \(communicator.rank): done")
} catch {
    print("hang-demo: \(error)")
    exit(1)
}
