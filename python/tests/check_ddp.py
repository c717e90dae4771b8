"""DDP on the demo's model with backend "collectives" against the same run with "gloo".

    python python/tests/check_ddp.py [RANKS] [EPOCHS]

Runs Examples/torch-ddp/train.py under torchrun twice (RANKS, default 2; EPOCHS, default 2),
once per backend. Passes when every rank of the "collectives" run ends with bit-identical
parameters, none NaN or infinite, and its final test accuracy is within 0.5 points of Gloo's.
Prints both runs' lines and "ddp ok", or what differs, and exits 0 or 1.
"""

import glob
import os
import re
import subprocess
import sys
import tempfile

import torch

HERE = os.path.dirname(os.path.abspath(__file__))
TRAIN = os.path.join(HERE, "..", "..", "Examples", "torch-ddp", "train.py")
TORCHRUN = os.path.join(os.path.dirname(sys.executable), "torchrun")


def train(backend, ranks, epochs, directory):
    command = [TORCHRUN, "--standalone", "--nproc-per-node", str(ranks), TRAIN, "--backend", backend,
               "--epochs", str(epochs), "--parameters-out", directory]
    finished = subprocess.run(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, timeout=600)
    lines = [line for line in finished.stdout.splitlines() if line.startswith("epoch ")]
    print("\n".join(lines) if lines else finished.stdout, flush=True)
    if finished.returncode != 0:
        print(f"{backend}: torchrun ended with {finished.returncode}:\n{finished.stdout}")
        return None
    accuracy = re.search(r"test accuracy ([0-9.]+) %", lines[-1]) if lines else None
    return float(accuracy.group(1)) if accuracy else None


def main():
    ranks = int(sys.argv[1]) if len(sys.argv) > 1 else 2
    epochs = int(sys.argv[2]) if len(sys.argv) > 2 else 2
    ok = True
    with tempfile.TemporaryDirectory(prefix="collectives-ddp-") as directory:
        ours = train("collectives", ranks, epochs, os.path.join(directory, "collectives"))
        gloo = train("gloo", ranks, epochs, os.path.join(directory, "gloo"))
        if ours is None or gloo is None:
            print("ddp NOT ok: a run failed")
            return 1
        files = sorted(glob.glob(os.path.join(directory, "collectives", "rank-*.pt")))
        if len(files) != ranks:
            print(f"ddp NOT ok: {len(files)} parameter files for {ranks} ranks")
            return 1
        parameters = [torch.load(path) for path in files]
        for rank, mine in enumerate(parameters[1:], start=1):
            same = all(torch.equal(a, b) for a, b in zip(parameters[0], mine))
            print(f"rank {rank}'s parameters {'equal' if same else 'DIFFER from'} rank 0's")
            ok = ok and same
        finite = all(bool(torch.isfinite(p).all()) for p in parameters[0])
        print(f"parameters finite: {finite}")
        ok = ok and finite
        print(f"test accuracy: collectives {ours:.2f} %, gloo {gloo:.2f} %, difference {abs(ours - gloo):.2f} points (at most 0.5)")
        ok = ok and abs(ours - gloo) <= 0.5
    print("ddp ok" if ok else "ddp NOT ok")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
