"""Run under `accelerate launch --config_file accelerate_configs/zero{2,3}.yaml` (2 CPU processes over gloo).

Runs the real scripts' `main()` one after another in one launch (starting the processes costs more than the
runs): SuperEdit (ZeRO-3 only; 2 steps with a checkpoint, then resumed to 4), SFT full fine-tuning (2 steps
with a checkpoint, then resumed to 4), LoRA SFT the same way (ZeRO-3 only), HAE-DPO with its reference pass and
step-0 check, and `describe_edit` on the saved SFT model loaded sharded (ZeRO-3 only). Each rank writes
rank<k>.json with what the test compares against the plain runs.

    zero_suite.py OUT STAGE QWEN_MODEL IP2P_MODEL
"""

import json
import sys
import time
from pathlib import Path

import torch
import torch.distributed as dist
from tests.zero_runs import (
    DESCRIBE_KWARGS,
    DESCRIBE_SPLIT,
    SFT_STEPS,
    SUPEREDIT_STEPS,
    describe_pairs,
    dpo_args,
    sft_args,
    superedit_args,
)


# Each script's main() ends by leaving the process group (and SuperEdit's save ends accelerate's training),
# which the next run in this launch still needs: the group is destroyed once, at the end.
_destroy_process_group = dist.destroy_process_group
dist.destroy_process_group = lambda group=None: None

from edit_handbook import dpo, sft, train_superedit  # noqa: E402
from edit_handbook.distributed import is_zero3_partitioned, zero3_inference_engine  # noqa: E402


out, stage, qwen, ip2p = Path(sys.argv[1]), int(sys.argv[2]), Path(sys.argv[3]), Path(sys.argv[4])
report: dict = {"timings": {}}


def timed(name, run, argv):
    start = time.perf_counter()
    code = run(argv)
    report["timings"][name] = round(time.perf_counter() - start, 2)
    assert code == 0, (name, code)


if stage == 3:
    for steps in (SUPEREDIT_STEPS // 2, SUPEREDIT_STEPS):  # the second run resumes from the first's checkpoint
        timed(
            f"superedit-{steps}",
            train_superedit.main,
            superedit_args(ip2p, out / "superedit", accumulation=1, max_steps=steps),
        )
for lora in (False, True) if stage == 3 else (False,):
    name = "sft-lora" if lora else "sft-full"
    for steps in (SFT_STEPS // 2, SFT_STEPS):  # the same output folder: the second run resumes at step 2
        timed(f"{name}-{steps}", sft.main, sft_args(qwen, out / name, accumulation=1, lora=lora, max_steps=steps))
timed("dpo", dpo.main, dpo_args(qwen, out / "dpo", accumulation=1))

rank = dist.get_rank()
report.update(rank=rank, world_size=dist.get_world_size())
if stage == 3:
    from transformers.integrations import is_deepspeed_zero3_enabled

    from edit_handbook.editcaption.inference import describe_edit
    from edit_handbook.models import load_vlm

    assert is_deepspeed_zero3_enabled()
    model, processor = load_vlm(out / "sft-full", dtype=torch.float32)
    report["describe_partitioned"] = is_zero3_partitioned(model)
    pairs = describe_pairs()
    mine = DESCRIBE_SPLIT[rank]
    engine = zero3_inference_engine(model, micro_batch_size=DESCRIBE_KWARGS["batch_size"])
    start = time.perf_counter()
    report["describe"] = dict(
        zip(
            mine,
            describe_edit(
                engine.module,
                processor,
                [pairs["source_image"][i] for i in mine],
                [pairs["target_image"][i] for i in mine],
                **DESCRIBE_KWARGS,
            ),
        )
    )
    report["timings"]["describe"] = round(time.perf_counter() - start, 2)
    engine.destroy()
(out / f"rank{rank}.json").write_text(json.dumps(report))
dist.barrier()
_destroy_process_group()
