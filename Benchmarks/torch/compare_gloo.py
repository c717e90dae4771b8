"""torch.distributed on swift-collectives against Gloo, same machine, same run: all_reduce time
and bus bandwidth from 8 B to 64 MiB, and DDP samples per second on the demo's model.

    .build-torch/venv/bin/python Benchmarks/torch/compare_gloo.py --ranks 2 4 --rounds 3

(scripts/torch-env.sh makes that environment.) For each rank count, the backends run one after
the other, ROUNDS times interleaved, and the medians are compared as ratios. Prints markdown
tables for docs/benchmarks.md.
"""

import argparse
import os
import re
import statistics
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
REPOSITORY = os.path.dirname(os.path.dirname(HERE))
TORCHRUN = os.path.join(os.path.dirname(sys.executable), "torchrun")
BACKENDS = ["collectives", "gloo"]


def torchrun(ranks, script, arguments):
    command = [TORCHRUN, "--standalone", "--nproc-per-node", str(ranks), script] + arguments
    environment = dict(os.environ, OMP_NUM_THREADS="1", PYTHONWARNINGS="ignore")
    finished = subprocess.run(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, timeout=1800, env=environment)
    if finished.returncode != 0:
        sys.exit(f"{' '.join(command)} failed:\n{finished.stdout}")
    return finished.stdout


def all_reduce(ranks, backend, end):
    output = torchrun(ranks, os.path.join(HERE, "allreduce.py"), ["--backend", backend, "--end", end])
    rows = {}
    for line in output.splitlines():
        fields = line.split()
        if len(fields) == 3 and fields[0].isdigit():
            rows[int(fields[0])] = (float(fields[1]), float(fields[2]))
    return rows


def ddp(ranks, backend, epochs):
    output = torchrun(ranks, os.path.join(REPOSITORY, "Examples", "torch-ddp", "train.py"), ["--backend", backend, "--epochs", str(epochs)])
    rates = [float(m.group(1)) for m in re.finditer(r"([0-9]+) samples/s", output)]
    accuracy = [float(m.group(1)) for m in re.finditer(r"test accuracy ([0-9.]+) %", output)]
    # The first epoch includes start-up; the last one's rate is the steady one.
    return rates[-1], accuracy[-1]


def size_name(size):
    for unit, scale in (("MiB", 1 << 20), ("KiB", 1 << 10)):
        if size >= scale:
            return f"{size // scale} {unit}"
    return f"{size} B"


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--ranks", type=int, nargs="+", default=[2, 4])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--end", default="64M")
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--no-ddp", action="store_true")
    args = parser.parse_args()
    for ranks in args.ranks:
        times = {b: {} for b in BACKENDS}
        rates = {b: [] for b in BACKENDS}
        accuracies = {b: [] for b in BACKENDS}
        for _ in range(args.rounds):
            for backend in BACKENDS:
                for size, (microseconds, busbw) in all_reduce(ranks, backend, args.end).items():
                    times[backend].setdefault(size, []).append((microseconds, busbw))
            if not args.no_ddp:
                for backend in BACKENDS:
                    rate, accuracy = ddp(ranks, backend, args.epochs)
                    rates[backend].append(rate)
                    accuracies[backend].append(accuracy)
        print(f"\n### {ranks} ranks: all_reduce, float32 sum, in place (medians of {args.rounds} interleaved runs)\n")
        print("| size | collectives µs | gloo µs | time ratio | collectives busbw GB/s | gloo busbw GB/s | busbw ratio |")
        print("|---:|---:|---:|---:|---:|---:|---:|")
        for size in sorted(times["collectives"]):
            ours = statistics.median(t for t, _ in times["collectives"][size])
            theirs = statistics.median(t for t, _ in times["gloo"][size])
            ours_bw = statistics.median(b for _, b in times["collectives"][size])
            theirs_bw = statistics.median(b for _, b in times["gloo"][size])
            print(f"| {size_name(size)} | {ours:.2f} | {theirs:.2f} | {ours / theirs:.3f} | {ours_bw:.3f} | {theirs_bw:.3f} | "
                  f"{(ours_bw / theirs_bw) if theirs_bw else float('inf'):.2f} |")
        if not args.no_ddp:
            ours, theirs = statistics.median(rates["collectives"]), statistics.median(rates["gloo"])
            print(f"\nDDP, demo MLP on Fashion-MNIST, {args.epochs} epochs, last epoch's samples/s (medians): collectives {ours:.0f}, "
                  f"gloo {theirs:.0f}, ratio {ours / theirs:.2f}; final test accuracy collectives {accuracies['collectives']}, "
                  f"gloo {accuracies['gloo']}")
        sys.stdout.flush()


if __name__ == "__main__":
    main()
