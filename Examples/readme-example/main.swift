import Collectives

// Started by a launcher (collectives-run, torchrun, mpirun, srun): the ranks find each other
// through the variables it sets (RANK, WORLD_SIZE, MASTER_ADDR, MASTER_PORT...).
let communicator = try Communicator.fromEnvironment()
defer { communicator.close() }
let (rank, n) = (communicator.rank, communicator.worldSize)

// Each rank holds its own "gradients"; after the all-reduce every rank holds their sum.
var gradients = [Float](repeating: Float(rank + 1), count: 1_000_003)
try communicator.allReduce(&gradients, op: .sum)

let expected = Float(n * (n + 1) / 2)
precondition(gradients.allSatisfy { $0 == expected }, "rank \(rank): wrong sum")
print("rank \(rank) of \(n): every element is \(expected)")
