"""`edit-handbook synthesize <task> --config recipe.yaml`: caption, filter, rectify or make negatives for edit pairs.

    edit-handbook synthesize rectify --config recipes/synthesis/smoke/synthesize/config_rectify.yaml
    accelerate launch src/edit_handbook/synthesize.py --task rectify --config ...   # one model per GPU

Start the same command again after a crash: finished rows are kept and only the rest is computed.
"""

from __future__ import annotations

import logging
import sys

import torch
from accelerate import PartialState

from edit_handbook.data.configs import DataArguments
from edit_handbook.data.loading import load_edit_pairs
from edit_handbook.distributed import leave_process_group
from edit_handbook.hub.run_info import collect_run_info, write_run_info
from edit_handbook.script_utils import ScriptParser, run_reporting_errors, setup_logging
from edit_handbook.synth.backends import make_backend
from edit_handbook.synth.configs import SynthesisArguments, SynthesisBackendArguments
from edit_handbook.synth.engine import push_result, run_task, save_result
from edit_handbook.synth.tasks import make_task


def make_parser() -> ScriptParser:
    return ScriptParser((DataArguments, SynthesisArguments, SynthesisBackendArguments))


def task_settings(args: SynthesisArguments) -> dict:
    """The config fields each task takes."""
    if args.task == "filter":
        return {"threshold": args.judge_threshold}
    if args.task == "rectify":
        return {"max_clip_tokens": args.max_clip_tokens}
    if args.task == "negatives":
        return {"k": args.num_negatives, "min_negatives": args.min_negatives, "max_clip_tokens": args.max_clip_tokens}
    return {}


def synthesize(data_args: DataArguments, args: SynthesisArguments, backend_args: SynthesisBackendArguments):
    """Steps 3-7 of the script (data, backend, the task, save and publish); returns the result on the main process."""
    # Made first, so every later `PartialState()` (writer, backend) sees the launcher's processes; without
    # CUDA a bare one would not start the gloo group and each process would think it is alone.
    state = PartialState(cpu=not torch.cuda.is_available())

    # 3. Data: the edit pairs, validated.
    dataset, report = load_edit_pairs(**data_args.load_kwargs())
    print(report.summary())

    # 4. Model: the backend (a local VLM on this process's device, or an OpenAI-compatible server).
    task = make_task(args.task, **task_settings(args))
    backend = make_backend(backend_args)

    # 5-6. Run the task over the rows, in resumable shards.
    rows = run_task(
        dataset, task, backend, args.output_dir, chunk_size=args.chunk_size, shard_size=args.shard_size,
        overwrite=args.overwrite, retry_failed=args.retry_failed,
    )  # fmt: skip
    if not state.is_main_process:
        return None

    # 7. Save, then publish: the dataset with its card and run_info, and the push when asked.
    info = collect_run_info(
        {"data": data_args, "synthesis": args, "backend": backend.describe()},
        data_fingerprint=dataset._fingerprint,
        validation=report.to_dict(),
    )
    result = save_result(rows, task, backend, args.output_dir, run_info=info)
    write_run_info(args.output_dir, info)
    if args.push_to_hub:
        if not args.hub_dataset_id:
            raise ValueError("push_to_hub needs hub_dataset_id (e.g. --hub_dataset_id you/rectified-pairs)")
        print(f"pushed: {push_result(result, args.hub_dataset_id)}")
    return result


def main(argv: list[str] | None = None) -> int:
    # 1. Parse the recipe and the flags (`synthesize rectify ...` = `synthesize --task rectify ...`).
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv and not argv[0].startswith("-"):
        argv = ["--task", argv[0], *argv[1:]]
    data_args, args, backend_args = make_parser().parse_args_and_config(argv)

    # 2. Logging.
    setup_logging(logging.WARNING)
    result = synthesize(data_args, args, backend_args)
    if result is not None:
        print(f"{args.task}: {result.counts}")
        print(f"task figures: {result.summary}")
        print(f"wrote {result.folder / 'dataset'} (card: {result.folder / 'README.md'})")
    leave_process_group()
    return 0


if __name__ == "__main__":
    sys.exit(run_reporting_errors(main))
