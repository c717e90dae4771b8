"""Data-parallel training with PyTorch DDP on swift-collectives: the repository's demo model
(an MLP 784-256-128-10 on Fashion-MNIST, SGD with momentum), one changed word from a Gloo script.

    pip install ./python                                   # once, beside torch
    torchrun --nproc-per-node 4 Examples/torch-ddp/train.py               # backend "collectives"
    torchrun --nproc-per-node 4 Examples/torch-ddp/train.py --backend gloo

Rank 0 prints a line per epoch (loss, test accuracy, samples per second) and, with
--parameters-out DIR, every rank writes its final parameters to DIR/rank-R.pt.
"""

import argparse
import gzip
import os
import struct
import time

import torch
import torch.distributed as dist
import torch.nn as nn
import torch.nn.functional as F
from torch.nn.parallel import DistributedDataParallel

import swift_collectives  # noqa: F401  (registers the "collectives" backend)


def read_idx(path):
    """An IDX file (the MNIST format) as a uint8 tensor."""
    with gzip.open(path, "rb") as file:
        data = file.read()
    dimensions = data[3]
    shape = struct.unpack(">" + "I" * dimensions, data[4:4 + 4 * dimensions])
    return torch.frombuffer(bytearray(data[4 + 4 * dimensions:]), dtype=torch.uint8).reshape(shape)


def load(directory, split):
    images = read_idx(os.path.join(directory, f"{split}-images-idx3-ubyte.gz")).reshape(-1, 784).float() / 255.0
    labels = read_idx(os.path.join(directory, f"{split}-labels-idx1-ubyte.gz")).long()
    return images, labels


class MLP(nn.Module):
    def __init__(self, hidden=(256, 128)):
        super().__init__()
        sizes = (784,) + tuple(hidden) + (10,)
        self.layers = nn.ModuleList(nn.Linear(a, b) for a, b in zip(sizes, sizes[1:]))

    def forward(self, x):
        for layer in self.layers[:-1]:
            x = F.relu(layer(x))
        return self.layers[-1](x)


def accuracy(model, images, labels):
    with torch.no_grad():
        return (model(images).argmax(dim=1) == labels).float().mean().item() * 100.0


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--backend", default="collectives")
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--batch-size", type=int, default=128, help="examples per step over all ranks together")
    parser.add_argument("--learning-rate", type=float, default=0.05)
    parser.add_argument("--data-dir", default="/usr/share/datasets/fashion-mnist")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--parameters-out", help="write each rank's final parameters here")
    args = parser.parse_args()

    dist.init_process_group(args.backend)
    rank, world = dist.get_rank(), dist.get_world_size()
    torch.manual_seed(args.seed)  # the same initial parameters everywhere (DDP broadcasts rank 0's anyway)
    train_images, train_labels = load(args.data_dir, "train")
    test_images, test_labels = load(args.data_dir, "t10k")

    model = DistributedDataParallel(MLP())
    optimizer = torch.optim.SGD(model.parameters(), lr=args.learning_rate, momentum=0.9, weight_decay=1e-4)
    per_rank = args.batch_size // world
    steps = len(train_images) // (per_rank * world)
    for epoch in range(1, args.epochs + 1):
        # Every rank draws the same permutation and takes its own slice of each global batch.
        order = torch.randperm(len(train_images), generator=torch.Generator().manual_seed(args.seed * 1000 + epoch))
        started = time.perf_counter()
        total = 0.0
        for step in range(steps):
            batch = order[(step * world + rank) * per_rank:(step * world + rank + 1) * per_rank]
            optimizer.zero_grad(set_to_none=True)
            loss = F.cross_entropy(model(train_images[batch]), train_labels[batch])
            loss.backward()
            optimizer.step()
            total += loss.item()
        elapsed = time.perf_counter() - started
        if rank == 0:
            print(f"epoch {epoch}: backend {args.backend}, {world} ranks, loss {total / steps:.4f}, "
                  f"test accuracy {accuracy(model.module, test_images, test_labels):.2f} %, "
                  f"{steps * per_rank * world / elapsed:.0f} samples/s", flush=True)
    if args.parameters_out:
        os.makedirs(args.parameters_out, exist_ok=True)
        torch.save([p.detach().clone() for p in model.module.parameters()], os.path.join(args.parameters_out, f"rank-{rank}.pt"))
    dist.destroy_process_group()


if __name__ == "__main__":
    main()
