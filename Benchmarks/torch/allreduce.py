"""torch.distributed.all_reduce timed through one backend, nccl-tests style.

    torchrun --standalone --nproc-per-node N Benchmarks/torch/allreduce.py --backend collectives
    torchrun --standalone --nproc-per-node N Benchmarks/torch/allreduce.py --backend gloo
    python Benchmarks/torch/allreduce.py --backend fake      # torch's own per-call cost (no communication)

Float32 sums, in place, synchronous (async_op=False), sizes from --begin to --end doubling.
Each size: warm-up calls, then --iterations calls timed together; the time is the mean per
call over the iterations, averaged over ranks (nccl-tests' default); bus bandwidth is
bytes × 2(n−1)/n per second. Rank 0 prints one line per size: bytes, microseconds, GB/s.
"""

import argparse
import time

import torch
import torch.distributed as dist

import swift_collectives  # noqa: F401  (registers "collectives")


def parse_size(text):
    units = {"K": 1 << 10, "M": 1 << 20, "G": 1 << 30}
    return int(float(text[:-1]) * units[text[-1].upper()]) if text[-1].upper() in units else int(text)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--backend", default="collectives")
    parser.add_argument("--begin", default="8")
    parser.add_argument("--end", default="64M")
    parser.add_argument("--seconds", type=float, default=0.3, help="about this long per size")
    args = parser.parse_args()
    if args.backend == "fake":
        from torch.testing._internal.distributed.fake_pg import FakeStore
        dist.init_process_group("fake", store=FakeStore(), rank=0, world_size=2)
    else:
        dist.init_process_group(args.backend)
    rank, world = dist.get_rank(), dist.get_world_size()
    size = parse_size(args.begin)
    if rank == 0:
        print(f"# torch {torch.__version__}, backend {args.backend}, {world} ranks, float32 sum, in place", flush=True)
        print(f"# {'bytes':>10} {'time us':>10} {'busbw GB/s':>10}", flush=True)
    while size <= parse_size(args.end):
        tensor = torch.ones(max(size // 4, 1))
        for _ in range(3):
            dist.all_reduce(tensor)
        # As many calls as fit in about --seconds, agreed by all ranks (the slowest's count).
        started = time.perf_counter()
        dist.all_reduce(tensor)
        once = torch.tensor([time.perf_counter() - started], dtype=torch.float64)
        dist.all_reduce(once, op=dist.ReduceOp.MAX)
        iterations = max(5, min(100_000, int(args.seconds / max(once.item(), 1e-7))))
        dist.barrier()
        started = time.perf_counter()
        for _ in range(iterations):
            dist.all_reduce(tensor)
        mean = torch.tensor([(time.perf_counter() - started) / iterations], dtype=torch.float64)
        dist.all_reduce(mean)
        seconds = mean.item() / world
        if rank == 0:
            busbw = tensor.numel() * 4 * 2 * (world - 1) / world / seconds / 1e9
            print(f"  {tensor.numel() * 4:>10} {seconds * 1e6:>10.2f} {busbw:>10.3f}", flush=True)
        size *= 2
    dist.destroy_process_group()


if __name__ == "__main__":
    main()
