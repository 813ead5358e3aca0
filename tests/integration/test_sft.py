"""`sft.py` end to end on tiny models (CPU): full fine-tuning with both tasks, resume, LoRA, a slower vision tower,
2 processes."""

import json
from pathlib import Path

import pytest
import torch
from PIL import Image
from tests.helpers import REPO_ROOT, launch_cpu

from edit_handbook.data.synthetic import generate_dataset
from edit_handbook.editcaption.inference import describe_edit
from edit_handbook.models import load_vlm
from edit_handbook.sft import main


def _args(model: Path, output_dir: Path, *extra: str) -> list[str]:
    return [
        "--model_name_or_path",
        str(model),
        "--dtype",
        "float32",
        "--output_dir",
        str(output_dir),
        "--dataset_name",
        "synthetic",
        "--dataset_synthetic_pairs",
        "8",
        "--dataset_synthetic_image_size",
        "32",
        "--dataset_synthetic_edit_types",
        "move",
        "recolour",
        "--max_pixels",
        "4096",
        "--use_cpu",
        "true",
        "--bf16",
        "false",
        "--gradient_checkpointing",
        "false",
        "--max_length",
        "none",
        "--per_device_train_batch_size",
        "2",
        "--learning_rate",
        "1e-3",
        "--report_to",
        "none",
        "--logging_steps",
        "1",
        "--disable_tqdm",
        "true",
        "--dataloader_num_workers",
        "0",
        *extra,
    ]


@pytest.fixture(scope="module")
def pairs():
    return generate_dataset(3, seed=7, image_size=32, edit_types=("move", "recolour"))


def test_full_finetune_mixed_tasks_then_reload_and_describe(tiny_small_vocab_qwen3_vl_path, tmp_path, pairs):
    out = tmp_path / "run"
    main(
        _args(
            tiny_small_vocab_qwen3_vl_path,
            out,
            "--tasks",
            "caption",
            "rectify",
            "--max_steps",
            "3",
            "--dataset_eval_fraction",
            "0.25",
            "--eval_strategy",
            "steps",
            "--eval_steps",
            "3",
            "--save_strategy",
            "no",
        )
    )
    info = json.loads((out / "run_info.json").read_text())
    assert info["prompt_version"].startswith("editcaption-prompts-")
    assert info["config"]["script"]["tasks"] == ["caption", "rectify"]
    card = (out / "README.md").read_text()
    assert "pipeline_tag: image-text-to-text" in card and "## Run info" in card
    history = json.loads((out / "trainer_state.json").read_text())["log_history"]
    assert any("eval_loss" in entry for entry in history)

    model, processor = load_vlm(out, dtype=torch.float32)
    captions = describe_edit(model, processor, pairs["source_image"], pairs["target_image"], batch_size=2)
    assert len(captions) == 3 and all(isinstance(text, str) for text in captions)
    rectified = describe_edit(
        model,
        processor,
        pairs["source_image"][:1],
        pairs["target_image"][:1],
        task="rectify",
        instructions=pairs["instruction"][:1],
        max_new_tokens=8,
    )
    assert len(rectified) == 1


def test_resume_from_checkpoint_continues_the_step_count(tiny_small_vocab_qwen3_vl_path, tmp_path):
    out = tmp_path / "run"
    common = ("--save_strategy", "steps", "--save_steps", "2", "--seed", "3")
    main(_args(tiny_small_vocab_qwen3_vl_path, out, "--max_steps", "2", *common))
    assert (out / "checkpoint-2" / "trainer_state.json").is_file()
    main(_args(tiny_small_vocab_qwen3_vl_path, out, "--max_steps", "4", *common))  # same dir: resumes at 2
    state = json.loads((out / "trainer_state.json").read_text())
    assert state["global_step"] == 4
    steps = [entry["step"] for entry in state["log_history"] if "loss" in entry]
    assert steps == [1, 2, 3, 4]  # steps 1-2 come from the checkpoint's history, not a second run of them


def test_lora_with_frozen_vision_tower(tiny_small_vocab_qwen3_vl_path, tmp_path, pairs):
    out = tmp_path / "lora"
    main(
        _args(
            tiny_small_vocab_qwen3_vl_path,
            out,
            "--use_peft",
            "true",
            "--lora_r",
            "4",
            "--lora_alpha",
            "8",
            "--lora_target_modules",
            "all-linear",
            "--freeze_vision_tower",
            "true",
            "--max_steps",
            "2",
            "--save_strategy",
            "no",
        )
    )
    adapter = json.loads((out / "adapter_config.json").read_text())
    assert adapter["r"] == 4
    from safetensors.torch import load_file

    names = load_file(out / "adapter_model.safetensors")
    assert names and not [name for name in names if ".visual." in name]
    assert any("language_model" in name for name in names)

    from peft import PeftModel

    base, processor = load_vlm(tiny_small_vocab_qwen3_vl_path, dtype=torch.float32)
    model = PeftModel.from_pretrained(base, out)
    assert len(describe_edit(model, processor, pairs["source_image"][:2], pairs["target_image"][:2])) == 2


def test_vision_tower_lr_scale_slows_only_the_tower(tiny_small_vocab_qwen3_vl_path, tmp_path):
    out = tmp_path / "slow-tower"
    main(_args(tiny_small_vocab_qwen3_vl_path, out, "--vision_tower_lr_scale", "1e-4", "--max_steps", "2"))
    before = load_vlm(tiny_small_vocab_qwen3_vl_path, dtype=torch.float32)[0].state_dict()
    after = load_vlm(out, dtype=torch.float32)[0].state_dict()
    moved = {name: (after[name] - before[name]).abs().max().item() for name in before}
    tower = max(value for name, value in moved.items() if ".visual." in name)
    rest = max(value for name, value in moved.items() if ".visual." not in name)
    # Adam moves a weight by about lr per step: 1e-3 for the language model, 1e-7 for the tower.
    assert rest > 1e-4 and tower < 1e-5, (rest, tower)


def test_two_process_cpu_launch(tiny_small_vocab_qwen3_vl_path, tmp_path):
    out = tmp_path / "ddp"
    result = launch_cpu(
        REPO_ROOT / "src" / "edit_handbook" / "sft.py",
        _args(tiny_small_vocab_qwen3_vl_path, out, "--max_steps", "2", "--save_strategy", "no"),
        num_processes=2,
        timeout=600,
    )
    assert (out / "model.safetensors").is_file(), result.stderr[-2000:]
    state = json.loads((out / "trainer_state.json").read_text())
    assert state["global_step"] == 2
    assert state["train_batch_size"] == 2  # per process; two processes make the global batch 4


def test_describe_edit_rejects_mismatched_inputs(tiny_small_vocab_qwen3_vl_path):
    model, processor = load_vlm(tiny_small_vocab_qwen3_vl_path, dtype=torch.float32)
    image = Image.new("RGB", (32, 32))
    with pytest.raises(ValueError, match="1 source images but 2 edited"):
        describe_edit(model, processor, [image], [image, image])
    with pytest.raises(ValueError, match="pass `instructions`"):
        describe_edit(model, processor, [image], [image], task="rectify")


@pytest.mark.slow
def test_smoke_recipe_learns(sft_smoke_checkpoint):
    """The cached smoke captioner: the exact checker accepts >= 90% of its greedy outputs on its 32 pairs."""
    from edit_handbook.fixtures import smoke_accuracy

    record = smoke_accuracy(sft_smoke_checkpoint)
    assert record["accuracy"] >= 0.9, record


def test_qwen2_5_vl_trains_and_describes(model_cache_dir, tmp_path, pairs):
    """The same script and prompts work for Qwen2.5-VL (14 px patches, its own processor and chat template)."""
    from edit_handbook.editcaption.smoke_model import smoke_tokenizer_path
    from edit_handbook.models import tiny_qwen2_5_vl

    model_path = tiny_qwen2_5_vl(smoke_tokenizer_path(cache_dir=model_cache_dir), cache_dir=model_cache_dir)
    out = tmp_path / "qwen2_5"
    main(_args(model_path, out, "--max_steps", "2", "--save_strategy", "no"))
    losses = [e["loss"] for e in json.loads((out / "trainer_state.json").read_text())["log_history"] if "loss" in e]
    assert len(losses) == 2 and all(loss > 0 for loss in losses)
    model, processor = load_vlm(out, dtype=torch.float32)
    answers = describe_edit(
        model, processor, list(pairs["source_image"]), list(pairs["target_image"]), max_new_tokens=4
    )
    assert len(answers) == len(pairs) and all(isinstance(a, str) for a in answers)
