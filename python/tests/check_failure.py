"""A rank killed in the middle of an all-reduce: the others raise within the process group's
timeout, naming it, and none hangs.

    python python/tests/check_failure.py [RANKS]

Starts RANKS (default 3) processes itself (torchrun would stop the survivors as soon as one
rank dies, before they could show what they raise), meeting through a FileStore. The last rank
all-reduces 32 MiB in a loop and is killed with SIGKILL 50 ms in; every other rank, all-reducing
in a loop too, must raise torch.distributed.DistBackendError naming that rank within the 20 s
timeout. Prints one line per rank and "failure ok" and exits 0, or says what went wrong and
exits 1.
"""

import os
import signal
import subprocess
import sys
import tempfile
import time
from datetime import timedelta

TIMEOUT = 20.0
ELEMENTS = 8 * 1024 * 1024


def rank_main(rank, world, store_path):
    import torch
    import torch.distributed as dist

    import swift_collectives  # noqa: F401

    dist.init_process_group("collectives", init_method=f"file://{store_path}", rank=rank, world_size=world,
                            timeout=timedelta(seconds=TIMEOUT))
    dist.barrier()
    tensor = torch.ones(ELEMENTS)
    victim = world - 1
    if rank == victim:
        # Killed from another thread while all-reducing, whatever the all-reduces take.
        import threading
        threading.Timer(0.05, lambda: os.kill(os.getpid(), signal.SIGKILL)).start()
        while True:
            dist.all_reduce(tensor)
    started = time.monotonic()
    try:
        while time.monotonic() - started < TIMEOUT * 2:
            dist.all_reduce(tensor)
        print(f"rank {rank}: all-reduces went on for {TIMEOUT * 2:.0f} s without rank {victim}", flush=True)
        sys.exit(1)
    except dist.DistBackendError as error:
        elapsed = time.monotonic() - started
        message = str(error).splitlines()[0]
        print(f"rank {rank}: raised after {elapsed:.2f} s: {message}", flush=True)
        sys.exit(0 if elapsed < TIMEOUT + 5 and f"rank {victim}" in message else 1)


def driver(world):
    store = tempfile.NamedTemporaryFile(prefix="collectives-failure-", delete=False)
    store.close()
    os.unlink(store.name)
    children = [subprocess.Popen([sys.executable, __file__, "--rank", str(r), str(world), store.name],
                                 stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True) for r in range(world)]
    ok = True
    try:
        for rank, child in enumerate(children):
            try:
                output, _ = child.communicate(timeout=TIMEOUT * 3)
            except subprocess.TimeoutExpired:
                child.kill()
                output, _ = child.communicate()
                print(f"rank {rank}: still running after {TIMEOUT * 3:.0f} s (a hang):\n{output}")
                ok = False
                continue
            lines = [line for line in output.splitlines() if line.startswith(f"rank {rank}:")]
            if rank == world - 1:
                dead = child.returncode == -signal.SIGKILL
                print(f"rank {rank}: {'killed itself mid-collective' if dead else f'ended with {child.returncode}'}")
                ok = ok and dead
            else:
                print("\n".join(lines) if lines else f"rank {rank}: said nothing:\n{output}")
                ok = ok and child.returncode == 0
    finally:
        for child in children:
            if child.poll() is None:
                child.kill()
        if os.path.exists(store.name):
            os.unlink(store.name)
    print("failure ok" if ok else "failure NOT ok")
    return 0 if ok else 1


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "--rank":
        rank_main(int(sys.argv[2]), int(sys.argv[3]), sys.argv[4])
    else:
        sys.exit(driver(int(sys.argv[1]) if len(sys.argv) > 1 else 3))
