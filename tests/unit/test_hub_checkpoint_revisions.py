"""Checkpoint revisions: every save of a real Trainer goes to its own branch, with a card and without optimizer state."""

from types import SimpleNamespace

import pytest
import torch
from tests.helpers import FakeHubApi
from transformers import GPT2Config, GPT2LMHeadModel, Trainer, TrainingArguments

from edit_handbook.hub import cards
from edit_handbook.hub.revisions import (
    CheckpointRevisionCallback,
    checkpoint_branch,
    checkpoint_revision_callbacks,
)
from edit_handbook.sft import make_parser as make_sft_parser


def test_checkpoint_branch_is_zero_padded_like_open_r1():
    assert checkpoint_branch("v1", 250) == "v1-step-000000250"
    assert checkpoint_branch(None, 7) == "main-step-000000007"


def _callback(api):
    return CheckpointRevisionCallback(
        "me/captioner", kind="captioner", base_model="Qwen/Qwen3-VL-2B-Instruct", datasets=["synthetic"], api=api
    )


def test_every_trainer_save_is_pushed_to_its_branch(tmp_path):
    torch.manual_seed(0)
    model = GPT2LMHeadModel(GPT2Config(n_layer=1, n_embd=8, n_head=2, vocab_size=16, n_positions=8))
    tokens = torch.randint(0, 16, (8, 8))
    data = [{"input_ids": row, "labels": row} for row in tokens]
    args = TrainingArguments(
        output_dir=str(tmp_path),
        max_steps=4,
        save_steps=2,
        per_device_train_batch_size=2,
        use_cpu=True,
        report_to=[],
        logging_strategy="no",
    )
    api = FakeHubApi()
    callback = _callback(api)
    Trainer(model=model, args=args, train_dataset=data, callbacks=[callback]).train()

    assert not callback.pending  # on_train_end waited for both uploads
    branches = [kwargs["branch"] for name, _, kwargs in api.calls if name == "create_branch"]
    assert branches == ["main-step-000000002", "main-step-000000004"]
    assert {kwargs["revision"] for name, _, kwargs in api.calls if name == "create_branch"} == {"initial"}
    uploads = [kwargs for name, _, kwargs in api.calls if name == "upload_folder"]
    assert [u["folder_path"] for u in uploads] == [str(tmp_path / "checkpoint-2"), str(tmp_path / "checkpoint-4")]
    assert [u["revision"] for u in uploads] == branches
    for files in api.uploads:
        assert {"README.md", "config.json", "model.safetensors", "trainer_state.json"} <= set(files)
        assert not any(name.endswith((".pt", ".pth")) for name in files)  # optimizer, scheduler, RNG stay local
    card = cards.read_card(tmp_path / "checkpoint-4")
    assert card.title == "me/captioner (step 4)" and card.meta["base_model"] == "Qwen/Qwen3-VL-2B-Instruct"
    assert "main-step-000000004" in card.sections["Run info"]


def test_only_the_main_process_pushes_and_a_single_kept_checkpoint_is_refused(tmp_path):
    api = FakeHubApi()
    callback = _callback(api)
    callback.on_save(SimpleNamespace(output_dir=str(tmp_path)), SimpleNamespace(is_world_process_zero=False), None)
    assert callback.wait() == [] and api.calls == []
    with pytest.raises(ValueError, match="save_total_limit to 2 or more"):
        callback.on_train_begin(SimpleNamespace(save_total_limit=1), None, None)
    with pytest.raises(FileNotFoundError, match="saved no"):
        state = SimpleNamespace(is_world_process_zero=True, global_step=3)
        callback.on_save(SimpleNamespace(output_dir=str(tmp_path)), state, None)


def test_the_sft_and_dpo_field_turns_the_callback_on_and_needs_a_repo():
    argv = ["--config", "recipes/editcaption/smoke/sft/config_smoke.yaml", "--push_checkpoint_revisions", "true"]
    script_args, training_args, _ = make_sft_parser().parse_args_and_config(argv)
    with pytest.raises(ValueError, match="push_checkpoint_revisions needs hub_model_id"):
        checkpoint_revision_callbacks(script_args, training_args, base_model="a/b", datasets=[])
    script_args, training_args, _ = make_sft_parser().parse_args_and_config(
        [*argv, "--hub_model_id", "me/cap", "--hub_revision", "v2"]
    )
    (callback,) = checkpoint_revision_callbacks(script_args, training_args, base_model="a/b", datasets=["synthetic"])
    assert callback.repo_id == "me/cap" and callback.revision == "v2" and callback.kind == "captioner"
    script_args.push_checkpoint_revisions = False
    assert checkpoint_revision_callbacks(script_args, training_args, base_model="a/b", datasets=[]) == []
