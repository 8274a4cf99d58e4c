"""Multi-process data-parallel training with ``torch.distributed`` (DDP), launched by torchrun.

Every process draws the same random stream (same seed): each global batch, its negatives and
its KG triples are drawn identically everywhere, then each process takes its contiguous share of
the rows. DDP averages the gradients, so with equal shares a step equals the single-process step
on the whole global batch (up to floating-point summation order and, for the LRD term, the
per-share averaging over valid history positions). Evaluation rows are sharded and the ranks
gathered. Only rank 0 writes files and logs.

Launch (CPU, gloo)::

    torchrun --standalone --nproc-per-node 2 -m lrdgraph_cli.main train g/office --out runs/x

Several machines: the same command on each with ``--nnodes N --node-rank R
--rdzv-backend c10d --rdzv-endpoint HOST:PORT`` instead of ``--standalone``; on GPUs the
backend is NCCL and each process takes the GPU of its ``LOCAL_RANK``.
"""
from __future__ import annotations

import atexit
import os
from typing import Dict, Optional

import torch
from torch import Tensor

__all__ = ["init_from_env", "shutdown", "world", "rank", "is_main", "shard", "gather_cat",
           "LossModule", "barrier", "first_failing_rank", "broadcast_text"]


def init_from_env(device_name: str) -> None:
    """Join the process group torchrun describes (``WORLD_SIZE`` > 1); no-op otherwise."""
    import torch.distributed as dist

    if int(os.environ.get("WORLD_SIZE", "1")) <= 1 or dist.is_initialized():
        return
    use_cuda = device_name in ("cuda", "auto") and torch.cuda.is_available()
    if use_cuda:
        torch.cuda.set_device(int(os.environ.get("LOCAL_RANK", "0")))
    dist.init_process_group(backend="nccl" if use_cuda else "gloo")
    # Leave the group before the interpreter shuts down: a gloo group still alive then can
    # abort the process at exit ("terminate called without an active exception", exit -6)
    # after its work is done, which torchrun reports as a failed run.
    atexit.register(shutdown)


def shutdown() -> None:
    """Destroy this process's group (at exit; a no-op without one)."""
    import torch.distributed as dist

    if dist.is_available() and dist.is_initialized():
        dist.destroy_process_group()


def world() -> int:
    import torch.distributed as dist

    return dist.get_world_size() if dist.is_available() and dist.is_initialized() else 1


def rank() -> int:
    import torch.distributed as dist

    return dist.get_rank() if dist.is_available() and dist.is_initialized() else 0


def is_main() -> bool:
    return rank() == 0


def barrier() -> None:
    if world() > 1:
        import torch.distributed as dist

        dist.barrier()


def shard(x: Tensor) -> Tensor:
    """This process's contiguous share of ``x`` (the whole of it in a single process)."""
    w = world()
    return x if w == 1 else torch.tensor_split(x, w)[rank()]


def gather_cat(x: Tensor) -> Tensor:
    """Concatenate every rank's ``x`` in rank order (``x`` on the CPU)."""
    w = world()
    if w == 1:
        return x
    import torch.distributed as dist

    parts = [None] * w
    dist.all_gather_object(parts, x.cpu())
    return torch.cat(parts)


def first_failing_rank(failed: bool, device: torch.device) -> Optional[int]:
    """The lowest rank whose ``failed`` is true, known to every process (None: no rank failed).

    A process that stops alone (a NaN loss in its share of the batch) would leave the others
    waiting in DDP's gradient all-reduce: with NCCL until the watchdog's timeout, with gloo
    until the peer's socket closes, and then with an unrelated error. Agreeing first lets every
    process stop with the same message. One all-reduce of one integer per call.
    """
    w = world()
    if w == 1:
        return 0 if failed else None
    import torch.distributed as dist

    flag = torch.tensor([rank() if failed else w], dtype=torch.int64, device=device)
    dist.all_reduce(flag, op=dist.ReduceOp.MIN)
    first = int(flag.item())
    return None if first >= w else first


def broadcast_text(text: Optional[str], src: int) -> Optional[str]:
    """``text`` of process ``src`` in every process."""
    if world() == 1:
        return text
    import torch.distributed as dist

    box = [text]
    dist.broadcast_object_list(box, src=src)
    return box[0]


class LossModule(torch.nn.Module):
    """Makes ``model.losses`` the ``forward`` that DDP wraps and synchronises."""

    def __init__(self, model: torch.nn.Module) -> None:
        super().__init__()
        self.model = model

    def forward(self, batch: Dict[str, Tensor], kge: bool) -> Dict[str, Tensor]:
        return self.model.losses(batch, kge=kge)
