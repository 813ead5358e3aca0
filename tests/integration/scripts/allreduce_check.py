"""Launched by test_distributed_launch: one all-reduce and one split; each rank writes `rank<i>.json`.

Files, not stdout: the ranks share one pipe and their lines can interleave.
"""

import json
import sys
from pathlib import Path

import torch
import torch.distributed as dist
from accelerate import Accelerator, PartialState

from edit_handbook.distributed import leave_process_group


def main() -> None:
    out_dir, num_items = Path(sys.argv[1]), int(sys.argv[2])
    items = list(range(num_items))
    accelerator = Accelerator()
    state = PartialState()
    total = torch.tensor([float(state.process_index + 1)])
    dist.all_reduce(total)
    with state.split_between_processes(items) as mine:
        shard = list(mine)
    report = {
        "rank": state.process_index,
        "world_size": state.num_processes,
        "distributed_type": str(accelerator.distributed_type),
        "backend": state.backend,
        "device": str(accelerator.device),
        "all_reduce_sum": total.item(),
        "shard": shard,
    }
    (out_dir / f"rank{state.process_index}.json").write_text(json.dumps(report))
    leave_process_group()


if __name__ == "__main__":
    main()
