"""swift-collectives as a torch.distributed backend for CPU tensors.

Importing this module registers the backend ``"collectives"``::

    import torch.distributed as dist
    import swift_collectives  # noqa: F401  (registers the backend)

    dist.init_process_group("collectives")  # under torchrun, as with "gloo"

The ranks find each other through torch's own store (the one ``init_process_group`` makes from
``MASTER_ADDR``/``MASTER_PORT`` or torchrun's rendezvous), so no second port is needed. Every
call is bounded by the process group's ``timeout``; a failed call raises
``torch.distributed.DistBackendError`` naming the rank, the call and the peer.
"""

import torch
import torch.distributed as _dist

from . import _C

__all__ = ["BACKEND", "version"]

#: The name to pass to ``init_process_group`` and ``new_group``.
BACKEND = "collectives"


def version() -> str:
    """The Swift library's version."""
    return _C.version()


def _create_backend(store, rank, size, timeout):
    return _C.create_backend(store, rank, size, timeout)


_dist.Backend.register_backend(BACKEND, _create_backend, devices=["cpu"])
