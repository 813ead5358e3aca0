"""Prefix-shared DPO on the tiny Qwen3-VL: log-probs, loss and gradients equal the unshared computation.

The pairs mix two image sizes, so prompts differ in length (padding) and the images' M-RoPE positions differ.
"""

from __future__ import annotations

import copy

import datasets
import pytest
import torch
from tests.integration.test_dpo_trainer import _args
from trl.trainer.dpo_trainer import DataCollatorForVisionPreference

from edit_handbook.data.synthetic import generate_dataset, preference_pairs
from edit_handbook.editcaption import prefix_sharing
from edit_handbook.editcaption.configs import HAEMarginArguments, HAESamplerArguments
from edit_handbook.editcaption.hae_trainer import HAEDPOTrainer
from edit_handbook.editcaption.preference_data import to_preference_examples
from edit_handbook.editcaption.prefix_sharing import (
    PACKED_BLOCKS,
    PAD,
    SharedPrefixPreferenceCollator,
    prefix_sharing_hooks,
)
from edit_handbook.editcaption.reference_pass import (
    attach_reference,
    fused_log_probs,
    run_reference_pass,
    sequence_log_probs,
)
from edit_handbook.models import load_vlm


PAIRS = 4


@pytest.fixture(scope="module")
def examples():
    small = preference_pairs(generate_dataset(2, seed=1, image_size=64, edit_types=["move", "recolour"]))
    large = preference_pairs(generate_dataset(2, seed=2, image_size=96, edit_types=["recolour", "move"]))
    mixed = datasets.concatenate_datasets([small.select(range(2)), large.select(range(2))])
    return to_preference_examples(mixed)


def _model(path, attention="sdpa"):
    return load_vlm(path, dtype=torch.float32, min_pixels=1024, max_pixels=16384, attn_implementation=attention)


def _log_probs(model, processor, rows, sharing, max_length=None):
    collator = SharedPrefixPreferenceCollator(processor, max_length, prefix_sharing=sharing)
    with fused_log_probs(model), prefix_sharing_hooks(model, enabled=sharing):
        return sequence_log_probs(model, collator(copy.deepcopy(rows)))


@pytest.mark.parametrize("attention", ["sdpa", "eager"])
def test_log_probs_equal_the_unshared_forward(tiny_small_vocab_qwen3_vl_path, examples, attention, monkeypatch):
    model, processor = _model(tiny_small_vocab_qwen3_vl_path, attention)
    rows = [examples[i] for i in range(PAIRS)]
    unshared = DataCollatorForVisionPreference(processor=processor)(copy.deepcopy(rows))
    shared = SharedPrefixPreferenceCollator(processor)(copy.deepcopy(rows))
    assert len(set(unshared["attention_mask"][:PAIRS].sum(dim=1).tolist())) > 1  # prompts of several lengths
    assert shared["pixel_values"].size(0) * 2 == unshared["pixel_values"].size(0)  # each image once
    expected, expected_lengths = _log_probs(model, processor, rows, sharing=False)
    got, lengths = _log_probs(model, processor, rows, sharing=True)
    assert torch.equal(lengths, expected_lengths)
    torch.testing.assert_close(got, expected, atol=1e-4, rtol=1e-6)
    if attention == "sdpa":  # the check has power: the rejected answers at the wrong positions differ clearly
        right = prefix_sharing.shared_position_ids
        monkeypatch.setattr(
            prefix_sharing, "shared_position_ids", lambda p, b: right(p, b) + (b == prefix_sharing.REJECTED)
        )
        wrong, _ = _log_probs(model, processor, rows, sharing=True)
        assert (wrong - expected)[PAIRS:].abs().max() > 1e-2


def test_qwen2_5_vl_log_probs_equal_the_unshared_forward(model_cache_dir, examples):
    from edit_handbook.editcaption.smoke_model import smoke_tokenizer_path
    from edit_handbook.models.tiny import tiny_qwen2_5_vl

    model, processor = _model(
        tiny_qwen2_5_vl(smoke_tokenizer_path(cache_dir=model_cache_dir), cache_dir=model_cache_dir)
    )
    assert model.config.model_type == "qwen2_5_vl"
    rows = [examples[i] for i in range(PAIRS)]
    expected, expected_lengths = _log_probs(model, processor, rows, sharing=False)
    got, lengths = _log_probs(model, processor, rows, sharing=True)
    assert torch.equal(lengths, expected_lengths)
    torch.testing.assert_close(got, expected, atol=1e-4, rtol=1e-6)


def test_max_length_truncates_the_answers_as_trl_truncates_the_rows(tiny_small_vocab_qwen3_vl_path, examples):
    model, processor = _model(tiny_small_vocab_qwen3_vl_path)
    rows = [examples[i] for i in range(PAIRS)]
    unshared = DataCollatorForVisionPreference(processor=processor)(copy.deepcopy(rows))
    prompt_lengths = unshared["attention_mask"].sum(dim=1) - unshared["completion_mask"].sum(dim=1)
    max_length = int(prompt_lengths.max()) + 3  # the longest prompt keeps 3 answer tokens, shorter ones more
    expected, expected_lengths = _log_probs(model, processor, rows, sharing=False, max_length=max_length)
    got, lengths = _log_probs(model, processor, rows, sharing=True, max_length=max_length)
    assert expected_lengths.min() == 3 and torch.equal(lengths, expected_lengths)
    torch.testing.assert_close(got, expected, atol=1e-4, rtol=1e-6)
    with pytest.raises(ValueError, match=r"pair \d of the batch: the prompt alone has \d+ tokens"):
        SharedPrefixPreferenceCollator(processor, int(prompt_lengths.min()))(copy.deepcopy(rows))


def _trainer(path, examples, tmp_path, *, sharing, lora):
    model, processor = _model(path)
    reference = attach_reference(
        examples,
        run_reference_pass(
            model, processor, examples, tmp_path / f"ref-{sharing}", fingerprint="t", prefix_sharing=False
        ),
    )
    with torch.no_grad():  # the policy drifts from the reference: delta != 0, a loss with a real gradient
        model.lm_head.weight.add_(
            0.05 * torch.randn_like(model.lm_head.weight, generator=torch.Generator().manual_seed(0))
        )
    peft_config = None
    if lora:
        from peft import LoraConfig

        peft_config = LoraConfig(r=4, target_modules=["q_proj", "v_proj", "qkv"], init_lora_weights=False)
    return HAEDPOTrainer(
        model,
        _args(tmp_path),
        reference,
        processor,
        peft_config=peft_config,
        margin=HAEMarginArguments(margin_gamma=1.0),
        sampler=HAESamplerArguments(hard_example_sampler=False),
        reference_check_tolerance=None,
        prefix_sharing=sharing,
    )


@pytest.mark.parametrize("lora", [False, True], ids=["full", "lora"])
def test_training_loss_and_gradients_equal_the_unshared_step(tiny_small_vocab_qwen3_vl_path, examples, tmp_path, lora):
    results = {}
    for sharing in (False, True):
        torch.manual_seed(0)  # the same LoRA initialisation on both sides
        trainer = _trainer(tiny_small_vocab_qwen3_vl_path, examples, tmp_path, sharing=sharing, lora=lora)
        assert trainer.prefix_sharing is sharing
        trainer.model.train()
        batch = trainer.data_collator([trainer.train_dataset[i] for i in range(PAIRS)])
        tokens = (batch[PACKED_BLOCKS] != PAD).sum() if sharing else batch["attention_mask"].sum()
        loss = trainer.compute_loss(trainer.model, batch)
        loss.backward()
        grads = {name: p.grad.clone() for name, p in trainer.model.named_parameters() if p.grad is not None}
        policy = trainer._policy_log_probs.sum(dim=1)
        assert trainer._metrics["train"]["num_tokens"] == [tokens.item()]  # the tokens the model ran
        results[sharing] = loss.detach(), grads, policy, dict(trainer._metrics["train"])
    (loss, grads, policy, metrics), (shared_loss, shared_grads, shared_policy, shared_metrics) = results.values()
    assert loss.item() > 0.01
    assert shared_metrics["num_tokens"][0] < 0.7 * metrics["num_tokens"][0]  # each prompt ran once
    assert shared_loss.item() == pytest.approx(loss.item(), abs=1e-6)
    torch.testing.assert_close(shared_policy, policy, atol=1e-4, rtol=1e-6)
    assert shared_grads.keys() == grads.keys() and grads
    assert not lora or all("lora_" in name for name in grads)
    assert any("visual" in name for name in grads)  # the vision tower's gradient, through the shared prompt
    for name, grad in grads.items():
        torch.testing.assert_close(shared_grads[name], grad, atol=1e-6, rtol=1e-4, msg=name)
    for key in ("rewards/margins", "rewards/accuracies", "logps/chosen", "logps/rejected", "mean_token_accuracy"):
        assert shared_metrics[key] == pytest.approx(metrics[key], abs=1e-4), key
