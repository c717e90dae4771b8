"""Every call of the "collectives" torch.distributed backend, checked under torchrun.

    torchrun --nproc-per-node N python/tests/check_backend.py

Each operation runs on every supported element type, on counts of zero, one, fewer than the
ranks and not divisible by them, in place and out of place, synchronously and with
async_op=True, on contiguous and non-contiguous tensors. Expected values are computed here in
Python integers and floats from closed forms (never by torch's or the library's reductions);
NaN or infinity anywhere is a failure. Prints "rank R: backend ok (K checks)" and exits 0, or
names each failed check and exits 1. There is nothing random: no seed.
"""

import math
import os
import sys
from datetime import timedelta

import torch
import torch.distributed as dist

import swift_collectives  # noqa: F401  (registers "collectives")

TYPES = [torch.float32, torch.float64, torch.float16, torch.bfloat16, torch.int8, torch.uint8, torch.int32, torch.uint32,
         torch.int64, torch.uint64, torch.bool]
FLOATS = {torch.float32, torch.float64, torch.float16, torch.bfloat16}

rank = world = -1
checks = failures = 0


def check(condition, what):
    global checks, failures
    checks += 1
    if not condition:
        failures += 1
        print(f"rank {rank}: FAILED {what}", file=sys.stderr, flush=True)


def value(r, i, dtype):
    """What rank r holds at index i: small integers, exact in every type (bool: every third)."""
    if dtype == torch.bool:
        return (r + i) % 3 == 0
    return (r + 1) * 2 + i % 5


def factor(r, i, dtype):
    """Small factors for products, so that products stay exact in int8 and float16."""
    if dtype == torch.bool:
        return (r + i) % 4 != 0
    return 1 + (r + i) % 2


def tensor(values, dtype):
    return torch.tensor(values, dtype=torch.float64 if dtype in FLOATS else torch.int64).to(dtype) if dtype != torch.bool else torch.tensor(values, dtype=torch.bool)


def expected_reduction(op, dtype, count):
    """The reduction over ranks, element by element, in Python numbers."""
    out = []
    for i in range(count):
        if op == dist.ReduceOp.PRODUCT:
            xs = [factor(r, i, dtype) for r in range(world)]
        else:
            xs = [value(r, i, dtype) for r in range(world)]
        if dtype == torch.bool:
            out.append(any(xs) if op in (dist.ReduceOp.SUM, dist.ReduceOp.MAX, dist.ReduceOp.BOR)
                       else all(xs) if op in (dist.ReduceOp.PRODUCT, dist.ReduceOp.MIN, dist.ReduceOp.BAND)
                       else sum(xs) % 2 == 1)
            continue
        if op == dist.ReduceOp.SUM:
            out.append(sum(xs))
        elif op == dist.ReduceOp.PRODUCT:
            out.append(math.prod(xs))
        elif op == dist.ReduceOp.MIN:
            out.append(min(xs))
        elif op == dist.ReduceOp.MAX:
            out.append(max(xs))
        elif op == dist.ReduceOp.AVG:
            out.append(sum(xs) / world)
        elif op == dist.ReduceOp.BAND:
            out.append(_fold(xs, lambda a, b: a & b))
        elif op == dist.ReduceOp.BOR:
            out.append(_fold(xs, lambda a, b: a | b))
        elif op == dist.ReduceOp.BXOR:
            out.append(_fold(xs, lambda a, b: a ^ b))
    return out


def _fold(xs, f):
    acc = xs[0]
    for x in xs[1:]:
        acc = f(acc, x)
    return acc


def same(actual, expected, dtype, what):
    """Exact equality with the expected Python values (averages: to the type's rounding)."""
    flat = actual.reshape(-1)
    if dtype in FLOATS:
        check(bool(torch.isfinite(flat.double()).all()), f"{what}: NaN or infinity in the result")
    want = tensor(expected, dtype) if expected else torch.empty(0, dtype=dtype)
    if len(expected) != flat.numel():
        check(False, f"{what}: {flat.numel()} elements, expected {len(expected)}")
        return
    check(bool(torch.equal(flat, want)), f"{what}: got {flat[:8].tolist()}..., expected {want[:8].tolist()}...")


def close(actual, expected, dtype, what):
    flat = actual.reshape(-1).double()
    want = torch.tensor(expected, dtype=torch.float64)
    tolerance = {torch.float32: 1e-6, torch.float64: 1e-12, torch.float16: 2e-3, torch.bfloat16: 1e-2}[dtype]
    check(bool(torch.isfinite(flat).all()), f"{what}: NaN or infinity in the result")
    check(flat.numel() == want.numel() and bool(torch.allclose(flat, want, rtol=tolerance, atol=0)),
          f"{what}: got {flat[:8].tolist()}..., expected {want[:8].tolist()}...")


def ops_for(dtype):
    ops = [dist.ReduceOp.SUM, dist.ReduceOp.PRODUCT, dist.ReduceOp.MIN, dist.ReduceOp.MAX]
    if dtype in FLOATS:
        ops.append(dist.ReduceOp.AVG)
    else:
        ops += [dist.ReduceOp.BAND, dist.ReduceOp.BOR, dist.ReduceOp.BXOR]
    return ops


def mine(dtype, count, op=None):
    source = factor if op == dist.ReduceOp.PRODUCT else value
    return tensor([source(rank, i, dtype) for i in range(count)], dtype) if count else torch.empty(0, dtype=dtype)


def all_reduce_checks(dtype, count):
    for op in ops_for(dtype):
        what = f"all_reduce {op} of {count} x {dtype}"
        t = mine(dtype, count, op)
        dist.all_reduce(t, op=op)
        (close if op == dist.ReduceOp.AVG else same)(t, expected_reduction(op, dtype, count), dtype, what)
    # Started, then waited on; and on a tensor that is not contiguous (every other element).
    t = mine(dtype, count)
    dist.all_reduce(t, op=dist.ReduceOp.MAX, async_op=True).wait()
    same(t, expected_reduction(dist.ReduceOp.MAX, dtype, count), dtype, f"async all_reduce max of {count} x {dtype}")
    wide = torch.zeros(2 * count, dtype=dtype)
    wide[0::2] = mine(dtype, count)
    strided = wide[0::2]
    dist.all_reduce(strided, op=dist.ReduceOp.MAX)
    same(wide[0::2], expected_reduction(dist.ReduceOp.MAX, dtype, count), dtype, f"non-contiguous all_reduce of {count} x {dtype}")
    check(not bool(wide[1::2].to(torch.float64).any()) if count else True, f"non-contiguous all_reduce of {count} x {dtype} wrote between")


def coalesced_checks(dtype, count):
    tensors = [mine(dtype, count), mine(dtype, count + 3)]
    dist.all_reduce_coalesced(tensors, op=dist.ReduceOp.SUM)
    same(tensors[0], expected_reduction(dist.ReduceOp.SUM, dtype, count), dtype, f"all_reduce_coalesced of {count} x {dtype}")
    same(tensors[1], expected_reduction(dist.ReduceOp.SUM, dtype, count + 3), dtype, f"all_reduce_coalesced of {count + 3} x {dtype}")


def rooted_checks(dtype, count, root):
    t = mine(dtype, count) if rank == root else torch.zeros(count, dtype=dtype)
    dist.broadcast(t, src=root)
    same(t, [value(root, i, dtype) for i in range(count)], dtype, f"broadcast of {count} x {dtype} from {root}")
    t = mine(dtype, count)
    dist.reduce(t, dst=root, op=dist.ReduceOp.SUM)
    if rank == root:
        same(t, expected_reduction(dist.ReduceOp.SUM, dtype, count), dtype, f"reduce of {count} x {dtype} to {root}")
    else:
        same(t, [value(rank, i, dtype) for i in range(count)], dtype, f"reduce of {count} x {dtype}: a non-root's tensor changed")


def gathering_checks(dtype, count, root):
    outs = [torch.zeros(count, dtype=dtype) for _ in range(world)]
    dist.all_gather(outs, mine(dtype, count))
    for r in range(world):
        same(outs[r], [value(r, i, dtype) for i in range(count)], dtype, f"all_gather of {count} x {dtype}: rank {r}'s block")
    whole = torch.zeros(world * count, dtype=dtype)
    dist.all_gather_into_tensor(whole, mine(dtype, count))
    same(whole, [value(r, i, dtype) for r in range(world) for i in range(count)], dtype, f"all_gather_into_tensor of {count} x {dtype}")
    gathered = [torch.zeros(count, dtype=dtype) for _ in range(world)] if rank == root else None
    dist.gather(mine(dtype, count), gather_list=gathered, dst=root)
    if rank == root:
        for r in range(world):
            same(gathered[r], [value(r, i, dtype) for i in range(count)], dtype, f"gather of {count} x {dtype} to {root}: rank {r}")
    pieces = [tensor([value(j, i, dtype) for i in range(count)], dtype) if count else torch.empty(0, dtype=dtype) for j in range(world)]
    out = torch.zeros(count, dtype=dtype)
    dist.scatter(out, scatter_list=pieces if rank == root else None, src=root)
    same(out, [value(rank, i, dtype) for i in range(count)], dtype, f"scatter of {count} x {dtype} from {root}")


def reduce_scatter_checks(dtype, count):
    # Block j on rank r holds value(r, j * count + i): this rank gets the sums of its block.
    whole = [value(rank, j, dtype) for j in range(world * count)]
    blocks = [tensor(whole[j * count:(j + 1) * count], dtype) if count else torch.empty(0, dtype=dtype) for j in range(world)]
    out = torch.zeros(count, dtype=dtype)
    dist.reduce_scatter(out, blocks, op=dist.ReduceOp.SUM)
    everything = expected_reduction(dist.ReduceOp.SUM, dtype, world * count)
    same(out, everything[rank * count:(rank + 1) * count], dtype, f"reduce_scatter of {count} x {dtype}")
    out = torch.zeros(count, dtype=dtype)
    dist.reduce_scatter_tensor(out, tensor(whole, dtype) if whole else torch.empty(0, dtype=dtype), op=dist.ReduceOp.SUM)
    same(out, everything[rank * count:(rank + 1) * count], dtype, f"reduce_scatter_tensor of {count} x {dtype}")


def code(source, target, i):
    """What source sends target at index i in the all-to-all checks (fits int8)."""
    return (source * 5 + target * 3 + i) % 100


def all_to_all_checks(dtype, count):
    send = tensor([code(rank, j, i) for j in range(world) for i in range(count)], dtype) if count else torch.empty(0, dtype=dtype)
    out = torch.zeros(world * count, dtype=dtype)
    dist.all_to_all_single(out, send)
    same(out, [tensor([code(r, rank, i)], dtype).item() for r in range(world) for i in range(count)], dtype,
         f"all_to_all_single of {count} x {dtype}")
    # Variable splits: rank s sends (s + t) % 3 + count rows of two elements to rank t.
    rows = lambda s, t: (s + t) % 3 + count  # noqa: E731
    send_rows = [rows(rank, t) for t in range(world)]
    receive_rows = [rows(s, rank) for s in range(world)]
    send = tensor([code(rank, t, k) for t in range(world) for k in range(2 * rows(rank, t))], dtype).reshape(-1, 2)
    out = torch.zeros(sum(receive_rows), 2, dtype=dtype)
    dist.all_to_all_single(out, send, output_split_sizes=receive_rows, input_split_sizes=send_rows)
    same(out, [tensor([code(s, rank, k)], dtype).item() for s in range(world) for k in range(2 * rows(s, rank))], dtype,
         f"variable all_to_all_single (+{count}) of {dtype}")
    # The list form, with a different count per rank.
    ins = [tensor([code(rank, t, k) for k in range(rows(rank, t))], dtype) for t in range(world)]
    outs = [torch.zeros(rows(s, rank), dtype=dtype) for s in range(world)]
    dist.all_to_all(outs, ins)
    for s in range(world):
        same(outs[s], [tensor([code(s, rank, k)], dtype).item() for k in range(rows(s, rank))], dtype, f"all_to_all (+{count}) of {dtype} from {s}")


def point_to_point_checks():
    # A ring exchange, both directions started before either side waits, far larger than any buffer.
    count = 3_000_001
    right, left = (rank + 1) % world, (rank - 1) % world
    out = torch.arange(count, dtype=torch.float32) + rank
    into = torch.zeros(count, dtype=torch.float32)
    requests = [dist.isend(out, right, tag=5), dist.irecv(into, left, tag=5)]
    for request in requests:
        request.wait()
    check(bool(torch.equal(into, torch.arange(count, dtype=torch.float32) + left)), f"isend/irecv of {count} floats from rank {left}")
    # Tagged messages to one peer arrive in the order they were sent (the library matches in
    # order and checks the tag: a receive naming another tag is an error, never a mix-up).
    if world >= 2 and rank < 2:
        peer = 1 - rank
        if rank == 0:
            dist.send(torch.tensor([7, 8], dtype=torch.int64), peer, tag=1)
            dist.send(torch.tensor([9], dtype=torch.int64), peer, tag=2)
        else:
            first, second = torch.zeros(2, dtype=torch.int64), torch.zeros(1, dtype=torch.int64)
            r1 = dist.irecv(first, 0, tag=1)
            r2 = dist.irecv(second, 0, tag=2)
            r2.wait()
            r1.wait()
            check(first.tolist() == [7, 8] and second.tolist() == [9], f"tagged receives: {first.tolist()}, {second.tolist()}")


def ordering_checks():
    """Started calls, a waited one and messages mixed: each rank issues them in one order, so
    every rank must see that order whatever runs on the backend's thread meanwhile."""
    big = [torch.full((300_001,), float(rank + k)) for k in range(3)]
    works = [dist.all_reduce(t, async_op=True) for t in big]
    small = torch.tensor([rank + 1], dtype=torch.int64)
    dist.broadcast(small, src=0)  # waited on at once, behind the three started ones
    right, left = (rank + 1) % world, (rank - 1) % world
    into = torch.zeros(5, dtype=torch.int32)
    peers = [dist.isend(torch.arange(5, dtype=torch.int32) * (rank + 1), right, tag=9), dist.irecv(into, left, tag=9)]
    late = torch.tensor([float(rank)])
    works.append(dist.all_reduce(late, async_op=True))
    for work in works + peers:
        work.wait()
    for k, t in enumerate(big):
        check(bool((t == sum(r + k for r in range(world))).all()), f"started all_reduce {k} before a broadcast and messages")
    check(small.item() == 1, f"broadcast between started calls: {small.item()}")
    check(into.tolist() == [i * (left + 1) for i in range(5)], f"message between started calls: {into.tolist()}")
    check(late.item() == sum(range(world)), f"all_reduce started after messages: {late.item()}")
    # A send nobody waits for still arrives (its handle is dropped at once).
    if world >= 2 and rank < 2:
        if rank == 0:
            dist.isend(torch.tensor([42], dtype=torch.int64), 1, tag=11)
        else:
            got = torch.zeros(1, dtype=torch.int64)
            dist.recv(got, 0, tag=11)
            check(got.item() == 42, f"a send whose handle was dropped: {got.item()}")


def group_checks():
    # A second process group over the even ranks, through torch's new_group (a new store prefix).
    evens = list(range(0, world, 2))
    group = dist.new_group(evens, backend="collectives")
    if rank in evens:
        t = torch.tensor([rank], dtype=torch.int64)
        dist.all_reduce(t, group=group)
        check(t.item() == sum(evens), f"all_reduce over the even ranks: {t.item()}, expected {sum(evens)}")
    dist.destroy_process_group(group)


def error_checks():
    for bad, what in [(lambda: dist.all_reduce(torch.zeros(2, dtype=torch.int16)), "int16"),
                      (lambda: dist.all_reduce(torch.ones(2), op=dist.ReduceOp.BXOR), "xor of floats"),
                      (lambda: dist.all_reduce(torch.ones(2, dtype=torch.int32), op=dist.ReduceOp.AVG), "average of integers"),
                      (lambda: dist.all_to_all_single(torch.zeros(world), torch.zeros(2 * world)), "all_to_all_single into a smaller output")]:
        try:
            bad()
            check(False, f"{what} was accepted")
        except (RuntimeError, ValueError) as error:
            check("swift-collectives" in str(error), f"{what}: the error does not say where it came from: {error}")


def main():
    global rank, world
    dist.init_process_group("collectives", timeout=timedelta(seconds=float(os.environ.get("COLLECTIVES_TIMEOUT", "60"))))
    rank, world = dist.get_rank(), dist.get_world_size()
    counts = [0, 1, max(world - 1, 1), 1001]
    for c, count in enumerate(counts):
        root = c % world
        for dtype in TYPES:
            all_reduce_checks(dtype, count)
            coalesced_checks(dtype, count)
            rooted_checks(dtype, count, root)
            gathering_checks(dtype, count, (root + 1) % world)
            reduce_scatter_checks(dtype, count)
            all_to_all_checks(dtype, count)
    all_reduce_checks(torch.float32, 70_001)
    # Gathering and all-to-all through a strided view too (every other element of a wider tensor).
    for dtype in (torch.float32, torch.int64):
        wide = torch.zeros(2 * 1001, dtype=dtype)
        strided = wide[0::2]
        strided.copy_(mine(dtype, 1001))
        dist.broadcast(strided, src=world - 1)
        same(wide[0::2], [value(world - 1, i, dtype) for i in range(1001)], dtype, f"non-contiguous broadcast of {dtype}")
        out = torch.zeros(2 * 1001, dtype=dtype)
        dist.scatter(out[1::2], scatter_list=[torch.full((1001,), value(j, 0, dtype), dtype=dtype) for j in range(world)] if rank == 0 else None, src=0)
        same(out[1::2], [value(rank, 0, dtype)] * 1001, dtype, f"non-contiguous scatter of {dtype}")
    point_to_point_checks()
    ordering_checks()
    group_checks()
    error_checks()
    dist.barrier()
    dist.destroy_process_group()
    if failures:
        print(f"rank {rank}: {failures} of {checks} checks failed", flush=True)
        sys.exit(1)
    print(f"rank {rank}: backend ok ({checks} checks)", flush=True)


if __name__ == "__main__":
    main()
