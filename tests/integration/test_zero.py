"""DeepSpeed ZeRO-3 and ZeRO-2 on CPU (2 processes over gloo, the shipped launcher configs) against plain runs.

Two launches cover every check (starting processes costs more than the tiny runs): under `zero3.yaml`, SuperEdit
with EMA, SFT full and LoRA (each checkpointed, resumed from the ZeRO shards and reloaded), HAE-DPO with its
sharded reference pass and step-0 check, and `describe_edit` on a ZeRO-3-partitioned model; under `zero2.yaml`,
SFT full and HAE-DPO. Each is compared with the same run in one process without DeepSpeed, accumulating the
ranks' micro-batches (equal global batch, data order and padding), in fp32: the first logged loss equal to
1e-6, every step within 1e-4, final weights within 1e-4, greedy generations identical.
"""

from __future__ import annotations

import json
from pathlib import Path

import datasets
import pytest
import torch
from accelerate.state import AcceleratorState, GradientState
from safetensors.torch import load_file
from tests.helpers import launch_deepspeed
from tests.zero_runs import (
    DESCRIBE_KWARGS,
    DESCRIBE_SPLIT,
    DPO_STEPS,
    RANKS,
    SFT_STEPS,
    SUPEREDIT_STEPS,
    describe_pairs,
    dpo_args,
    sft_args,
    superedit_args,
)


SUITE = Path(__file__).parent / "scripts" / "zero_suite.py"
FIRST_STEP_TOLERANCE, TRAJECTORY_TOLERANCE, WEIGHT_TOLERANCE = 1e-6, 1e-4, 1e-4


def _reset_accelerate() -> None:
    AcceleratorState._reset_state(True)
    GradientState._reset_state()


@pytest.fixture(scope="module")
def plain(tiny_small_vocab_qwen3_vl_path, tiny_ip2p_path, tmp_path_factory) -> Path:
    """Every run once in this process, without DeepSpeed, accumulating RANKS micro-batches per step."""
    from edit_handbook import dpo, sft, train_superedit

    out = tmp_path_factory.mktemp("plain")
    qwen, ip2p = tiny_small_vocab_qwen3_vl_path, tiny_ip2p_path
    runs = [
        (train_superedit.main, superedit_args(ip2p, out / "superedit", accumulation=RANKS, max_steps=SUPEREDIT_STEPS)),
        (sft.main, sft_args(qwen, out / "sft-full", accumulation=RANKS, lora=False, max_steps=SFT_STEPS)),
        (sft.main, sft_args(qwen, out / "sft-lora", accumulation=RANKS, lora=True, max_steps=SFT_STEPS)),
        (dpo.main, dpo_args(qwen, out / "dpo", accumulation=RANKS)),
    ]
    try:
        for main, argv in runs:
            assert main(argv) == 0
            _reset_accelerate()
    finally:
        _reset_accelerate()
    return out


def _launch(stage: int, deepspeed_cpu, qwen: Path, ip2p: Path, out: Path) -> tuple[Path, list[dict]]:
    launch_deepspeed(SUITE, [str(out), str(stage), str(qwen), str(ip2p)], config=f"zero{stage}.yaml", timeout=900)
    reports = [json.loads((out / f"rank{rank}.json").read_text()) for rank in range(RANKS)]
    print(f"ZeRO-{stage} runs (s): {reports[0]['timings']}")
    return out, reports


@pytest.fixture(scope="module")
def zero3(deepspeed_cpu, tiny_small_vocab_qwen3_vl_path, tiny_ip2p_path, tmp_path_factory):
    return _launch(3, deepspeed_cpu, tiny_small_vocab_qwen3_vl_path, tiny_ip2p_path, tmp_path_factory.mktemp("z3"))


@pytest.fixture(scope="module")
def zero2(deepspeed_cpu, tiny_small_vocab_qwen3_vl_path, tiny_ip2p_path, tmp_path_factory):
    return _launch(2, deepspeed_cpu, tiny_small_vocab_qwen3_vl_path, tiny_ip2p_path, tmp_path_factory.mktemp("z2"))


# -- comparisons -------------------------------------------------------------------------------------------------


def trainer_losses(folder: Path) -> dict[int, float]:
    history = json.loads((folder / "trainer_state.json").read_text())["log_history"]
    return {entry["step"]: entry["loss"] for entry in history if "loss" in entry}


def superedit_losses(folder: Path) -> dict[int, float]:
    entries = [json.loads(line) for line in (folder / "metrics.jsonl").read_text().splitlines() if line]
    return {entry["step"]: entry["loss"] for entry in entries if "loss" in entry}


def assert_same_trajectory(sharded: dict[int, float], plain: dict[int, float], steps: int) -> None:
    assert sorted(sharded) == sorted(plain) == list(range(1, steps + 1)), (sharded, plain)
    assert abs(sharded[1] - plain[1]) <= FIRST_STEP_TOLERANCE, (sharded[1], plain[1])
    worst = max(abs(sharded[step] - plain[step]) for step in plain)
    assert worst <= TRAJECTORY_TOLERANCE, (sharded, plain)


def reloaded(folder: Path) -> torch.nn.Module:
    """The saved captioner as `from_pretrained` loads it (a ZeRO-3 save writes legacy key names, ZeRO-2 the tied
    output layer twice: the files differ, the models do not)."""
    from edit_handbook.models import load_vlm

    model, _ = load_vlm(folder, dtype=torch.float32)
    return model


def assert_same_weights(sharded: dict[str, torch.Tensor], plain: dict[str, torch.Tensor]) -> None:
    assert sharded.keys() == plain.keys()
    worst = max((sharded[name].float() - plain[name].float()).abs().max().item() for name in plain)
    assert worst <= WEIGHT_TOLERANCE, worst


def assert_sharded_checkpoint(folder: Path, total_parameters: int, stage: int) -> None:
    """One ZeRO optimizer shard per rank, together holding each trainable parameter exactly once."""
    files = sorted(folder.glob("*zero_pp_rank_*_optim_states.pt"))
    assert len(files) == RANKS, files
    shares = []
    for path in files:
        state = torch.load(path, map_location="cpu", weights_only=False)["optimizer_state_dict"]
        counts = state["partition_count"]  # one per parameter group under ZeRO-2
        assert int(state["zero_stage"]) == stage and set(counts if isinstance(counts, list) else [counts]) == {RANKS}
        groups = state["fp32_flat_groups"] if stage == 3 else state["single_partition_of_fp32_groups"]
        shares.append(sum(group.numel() for group in groups))
    assert max(shares) - min(shares) <= RANKS * 16 and total_parameters <= sum(shares) <= total_parameters + 64


def reference_rows(folder: Path) -> datasets.Dataset:
    shards = sorted(str(path) for path in (folder / "reference" / "train").glob("shard-*.parquet"))
    return datasets.Dataset.from_parquet(shards).sort("id")


def assert_same_reference_pass(sharded: Path, plain: Path) -> None:
    """Both ranks computed their share of the reference pass; the values are the unsharded pass's."""
    ranks = {path.name.split("-")[1] for path in (sharded / "reference" / "train").glob("shard-*.parquet")}
    assert ranks == {f"r{rank:05d}" for rank in range(RANKS)}
    ours, theirs = reference_rows(sharded), reference_rows(plain)
    assert ours["id"] == theirs["id"]
    for column in ("ref_chosen_logps", "ref_rejected_logps"):
        difference = (torch.tensor(ours[column]) - torch.tensor(theirs[column])).abs().max().item()
        assert difference <= 1e-6 * max(1.0, max(abs(value) for value in theirs[column])), (column, difference)
    assert ours["ref_chosen_tokens"] == theirs["ref_chosen_tokens"]


# -- ZeRO-3 ------------------------------------------------------------------------------------------------------


def test_zero3_sft_full_checkpoint_resume_and_reload(zero3, plain):
    out, _ = zero3
    run = out / "sft-full"
    assert_same_trajectory(trainer_losses(run), trainer_losses(plain / "sft-full"), SFT_STEPS)  # 3-4 after resuming
    assert json.loads((run / "trainer_state.json").read_text())["global_step"] == SFT_STEPS
    model = reloaded(run)
    total = sum(parameter.numel() for parameter in model.parameters())  # all trainable, tied ones once
    assert_sharded_checkpoint(run / "checkpoint-2" / "global_step2", total, 3)
    assert_same_weights(model.state_dict(), reloaded(plain / "sft-full").state_dict())


def test_zero3_sft_lora_checkpoint_resume_and_reload(zero3, plain, tiny_small_vocab_qwen3_vl_path):
    from peft import PeftModel

    from edit_handbook.models import load_vlm

    out, _ = zero3
    run = out / "sft-lora"
    assert_same_trajectory(trainer_losses(run), trainer_losses(plain / "sft-lora"), SFT_STEPS)
    adapter = load_file(run / "adapter_model.safetensors")
    assert_sharded_checkpoint(run / "checkpoint-2" / "global_step2", sum(t.numel() for t in adapter.values()), 3)
    assert_same_weights(adapter, load_file(plain / "sft-lora" / "adapter_model.safetensors"))
    base, _ = load_vlm(tiny_small_vocab_qwen3_vl_path, dtype=torch.float32)
    reloaded = PeftModel.from_pretrained(base, run)
    lora_b = [name for name, _ in reloaded.named_parameters() if "lora_B" in name]
    assert lora_b and any(
        parameter.abs().sum() > 0 for name, parameter in reloaded.named_parameters() if name in lora_b
    )


def test_zero3_dpo_sharded_reference_pass_and_step0_check(zero3, plain):
    """The run used `reference_check_tolerance 1e-5`: it fails at step 0 unless the policy reproduces the stored pass."""
    out, _ = zero3
    assert_same_reference_pass(out / "dpo", plain / "dpo")
    assert_same_trajectory(trainer_losses(out / "dpo"), trainer_losses(plain / "dpo"), DPO_STEPS)
    assert_same_weights(reloaded(out / "dpo").state_dict(), reloaded(plain / "dpo").state_dict())


def test_zero3_superedit_ema_checkpoint_resume(zero3, plain, tiny_ip2p_path):
    out, _ = zero3
    run = out / "superedit"
    assert_same_trajectory(superedit_losses(run), superedit_losses(plain / "superedit"), SUPEREDIT_STEPS)
    # Each rank wrote its own share of the latent cache (before the rank fix both wrote rank 0's shard).
    latents = next((run / "cache" / "latents").iterdir())
    assert sorted(path.name.split("-")[1] for path in latents.glob("shard-*.parquet")) == ["r00000", "r00001"]
    unet = load_file(run / "unet" / "diffusion_pytorch_model.safetensors")  # the EMA weights
    assert_sharded_checkpoint(run / "checkpoint-2" / "pytorch_model", sum(t.numel() for t in unet.values()), 3)
    assert_same_weights(unet, load_file(plain / "superedit" / "unet" / "diffusion_pytorch_model.safetensors"))
    # The frozen text encoder was loaded whole and stayed untouched.
    saved = load_file(run / "text_encoder" / "model.safetensors")
    original = load_file(Path(tiny_ip2p_path) / "text_encoder" / "model.safetensors")
    assert all(torch.equal(saved[name], original[name]) for name in original)


def test_zero3_describe_edit_generates_what_the_plain_model_does(zero3):
    from edit_handbook.editcaption.inference import describe_edit
    from edit_handbook.models import load_vlm

    out, reports = zero3
    assert all(report["describe_partitioned"] for report in reports)
    sharded = {int(index): text for report in reports for index, text in report["describe"].items()}
    model, processor = load_vlm(out / "sft-full", dtype=torch.float32)
    pairs = describe_pairs()
    plain = {}
    for indices in DESCRIBE_SPLIT:  # the same batches as the ranks made: the same padding
        answers = describe_edit(
            model,
            processor,
            [pairs["source_image"][i] for i in indices],
            [pairs["target_image"][i] for i in indices],
            **DESCRIBE_KWARGS,
        )
        plain.update(zip(indices, answers))
    assert sharded == plain and all(plain.values()), (sharded, plain)


# -- ZeRO-2 ------------------------------------------------------------------------------------------------------


def test_zero2_sft_resume_and_dpo_reference_pass(zero2, plain):
    out, _ = zero2
    run = out / "sft-full"
    assert_same_trajectory(trainer_losses(run), trainer_losses(plain / "sft-full"), SFT_STEPS)
    model = reloaded(run)
    total = sum(parameter.numel() for parameter in model.parameters())  # all trainable, tied ones once
    assert_sharded_checkpoint(run / "checkpoint-2" / "global_step2", total, 2)
    assert_same_weights(model.state_dict(), reloaded(plain / "sft-full").state_dict())
    assert_same_reference_pass(out / "dpo", plain / "dpo")
    assert_same_trajectory(trainer_losses(out / "dpo"), trainer_losses(plain / "dpo"), DPO_STEPS)
