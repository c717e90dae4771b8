import ArgumentParser
import Collectives

extension Communicator {
    /// The communicator of a command run under a launcher; a configuration or rendezvous
    /// failure is printed as `program: reason` and exits with status 2.
    public static func forCommand(_ program: String) throws -> Communicator {
        do {
            return try Communicator.fromEnvironment()
        } catch {
            Console.error("\(program): \(error)")
            throw ExitCode(2)
        }
    }
}
