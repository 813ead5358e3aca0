"""Leaving a distributed run cleanly."""

import torch.distributed as dist


def leave_process_group() -> None:
    """Wait for every rank, then destroy the process group, if one was made.

    A rank that exits while gloo's pair threads are still alive can abort in C++ ("terminate called without an
    active exception", SIGABRT) after its work is done, which the launcher reports as a failed run; NCCL warns
    about leaked resources the same way. Call this at the end of every script `accelerate launch` runs.
    """
    if dist.is_available() and dist.is_initialized():
        dist.barrier()
        dist.destroy_process_group()
