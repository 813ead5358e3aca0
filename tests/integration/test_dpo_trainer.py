"""HAEDPOTrainer on the tiny model: TRL's sigmoid loss and gradients with zero margins, the hand formula with
margins, unshifted metrics, no reference model in memory, the step-0 check, and the resumable reference pass."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from trl import DPOConfig, DPOTrainer
from trl.trainer.dpo_trainer import DataCollatorForVisionPreference

from edit_handbook.data.synthetic import generate_dataset, preference_pairs
from edit_handbook.data.writer import list_shards, load_shards
from edit_handbook.editcaption import reference_pass
from edit_handbook.editcaption.configs import HAEMarginArguments, HAESamplerArguments
from edit_handbook.editcaption.hae_trainer import HAEDPOTrainer
from edit_handbook.editcaption.preference_data import to_preference_examples
from edit_handbook.editcaption.reference_pass import attach_reference, run_reference_pass
from edit_handbook.models import load_vlm


BETA = 0.1


@pytest.fixture(scope="module")
def examples():
    pairs = preference_pairs(generate_dataset(2, image_size=64, edit_types=["move", "recolour"]))
    return to_preference_examples(pairs).select(range(4))


def _model(path):
    return load_vlm(path, dtype=torch.float32, min_pixels=1024, max_pixels=4096)


def _args(tmp_path, max_length=None):
    return DPOConfig(
        output_dir=str(tmp_path / "out"),
        per_device_train_batch_size=4,
        beta=BETA,
        use_cpu=True,
        bf16=False,
        gradient_checkpointing=False,
        max_length=max_length,
        report_to=[],
        disable_tqdm=True,
        save_strategy="no",
    )


def _hae_trainer(
    path,
    examples,
    tmp_path,
    *,
    gamma=0.0,
    perturb=False,
    tolerance=1e-4,
    max_length=None,
    margin=None,
    sampler=None,
    sharing=None,
):
    model, processor = _model(path)
    rows = run_reference_pass(
        model,
        processor,
        examples,
        tmp_path / "ref",
        fingerprint="t",
        batch_size=4,
        max_length=max_length,
        prefix_sharing=sharing,
    )
    data = attach_reference(examples, rows)
    if perturb:  # the policy drifts from the reference: delta != 0
        with torch.no_grad():
            model.lm_head.weight.add_(
                0.05 * torch.randn_like(model.lm_head.weight, generator=torch.Generator().manual_seed(0))
            )
    trainer = HAEDPOTrainer(
        model,
        _args(tmp_path, max_length),
        data,
        processor,
        margin=margin or HAEMarginArguments(margin_gamma=gamma),
        sampler=sampler or HAESamplerArguments(hard_example_sampler=False),
        reference_check_tolerance=tolerance,
        prefix_sharing=sharing,
    )
    return trainer, data


def _loss_and_grads(trainer, rows):
    trainer.model.train()
    batch = trainer.data_collator(rows)
    loss = trainer.compute_loss(trainer.model, batch)
    loss.backward()
    grads = {name: p.grad.clone() for name, p in trainer.model.named_parameters() if p.grad is not None}
    return loss.detach(), grads


@pytest.mark.parametrize("sharing", [False, True], ids=["unshared", "prefix-shared"])
def test_zero_margins_reproduce_trl_sigmoid_loss_and_gradients(
    tiny_small_vocab_qwen3_vl_path, examples, tmp_path, sharing
):
    model, processor = _model(tiny_small_vocab_qwen3_vl_path)
    trl_trainer = DPOTrainer(model, args=_args(tmp_path), train_dataset=examples, processing_class=processor)
    trl_loss, trl_grads = _loss_and_grads(trl_trainer, [examples[i] for i in range(4)])

    ours, data = _hae_trainer(tiny_small_vocab_qwen3_vl_path, examples, tmp_path, sharing=sharing)
    assert ours.ref_model is None and trl_trainer.ref_model is not None and ours.prefix_sharing is sharing
    our_loss, our_grads = _loss_and_grads(ours, [ours.train_dataset[i] for i in range(4)])

    assert our_loss.item() == pytest.approx(trl_loss.item(), abs=1e-6)
    assert our_loss.item() == pytest.approx(F.softplus(torch.tensor(0.0)).item(), abs=1e-6)  # policy == reference
    assert our_grads.keys() == trl_grads.keys()
    for name, grad in trl_grads.items():
        torch.testing.assert_close(our_grads[name], grad, atol=1e-6, rtol=0, msg=name)


def test_margin_loss_is_the_hand_formula_and_metrics_are_unshifted(tiny_small_vocab_qwen3_vl_path, examples, tmp_path):
    trainer, data = _hae_trainer(
        tiny_small_vocab_qwen3_vl_path, examples, tmp_path, gamma=1.0, perturb=True, tolerance=None
    )
    policy = run_reference_pass(
        trainer.model, trainer.processing_class, examples, tmp_path / "policy", fingerprint="p", batch_size=4
    )
    delta = (torch.tensor(policy["ref_chosen_logps"]) - torch.tensor(data["ref_chosen_logps"])) - (
        torch.tensor(policy["ref_rejected_logps"]) - torch.tensor(data["ref_rejected_logps"])
    )
    margin = torch.tensor(trainer.train_dataset["hae_margin"], dtype=torch.float64)
    assert (margin > 0).all()
    expected = F.softplus(margin - BETA * delta).mean()  # -log sigmoid(beta * delta - m), averaged

    loss, _ = _loss_and_grads(trainer, [trainer.train_dataset[i] for i in range(4)])
    assert loss.item() == pytest.approx(expected.item(), abs=1e-5)
    metrics = trainer._metrics["train"]
    assert metrics["rewards/margins"][-1] == pytest.approx((BETA * delta).mean().item(), abs=1e-5)
    assert metrics["rewards/accuracies"][-1] == pytest.approx((delta > 0).double().mean().item())
    severities = list(data["severity"])
    critical = [BETA * d for d, s in zip(delta.tolist(), severities) if s == "critical"]
    assert metrics["rewards/margins/critical"] == pytest.approx(critical, abs=1e-5)


def test_step_zero_check_refuses_a_stale_reference(tiny_small_vocab_qwen3_vl_path, examples, tmp_path):
    trainer, _ = _hae_trainer(tiny_small_vocab_qwen3_vl_path, examples, tmp_path, perturb=True)
    with pytest.raises(ValueError, match=r"step-0 check: .* rows \['synthetic-0-"):
        _loss_and_grads(trainer, [trainer.train_dataset[i] for i in range(4)])


def test_reference_pass_truncates_exactly_as_the_trainer(tiny_small_vocab_qwen3_vl_path, examples, tmp_path):
    """With max_length set, the stored reference covers the tokens training sees: the step-0 check holds."""
    _, processor = _model(tiny_small_vocab_qwen3_vl_path)
    full = DataCollatorForVisionPreference(processor=processor)([examples[i] for i in range(4)])
    first_completion = int(full["completion_mask"].int().argmax(dim=1).min())
    max_length = first_completion + 2  # cuts every completion after two tokens
    assert max_length < full["input_ids"].size(1)
    trainer, data = _hae_trainer(
        tiny_small_vocab_qwen3_vl_path, examples, tmp_path / "cut", max_length=max_length, tolerance=1e-4
    )
    untruncated = run_reference_pass(
        trainer.model, processor, examples, tmp_path / "untruncated", fingerprint="u", batch_size=4
    )
    assert (torch.tensor(data["ref_chosen_logps"]) - torch.tensor(untruncated["ref_chosen_logps"])).abs().max() > 0.1
    loss, _ = _loss_and_grads(trainer, [trainer.train_dataset[i] for i in range(4)])  # step-0 check passes
    assert loss.item() == pytest.approx(F.softplus(torch.tensor(0.0)).item(), abs=1e-5)


def test_sampler_only_scores_with_the_margin_but_trains_plain_dpo(tiny_small_vocab_qwen3_vl_path, examples, tmp_path):
    trainer, data = _hae_trainer(
        tiny_small_vocab_qwen3_vl_path,
        examples,
        tmp_path,
        margin=HAEMarginArguments(margin_gamma=1.0, margin_in_loss=False),
        sampler=HAESamplerArguments(hard_example_sampler=True),
    )
    assert trainer.train_dataset["hae_margin"] == [0.0] * len(examples)
    margins = trainer.pair_scores.margins
    assert (margins > 0).all()
    assert trainer.pair_scores.scores.tolist() == pytest.approx((1 / (1 + np.exp(-margins))).tolist())


def test_rpo_alpha_adds_the_nll_of_the_chosen_answer(tiny_small_vocab_qwen3_vl_path, examples, tmp_path):
    """loss = DPO + rpo_alpha * mean per-token NLL of the chosen answers (TRL's 'sft' loss), margins kept."""
    trainer, data = _hae_trainer(
        tiny_small_vocab_qwen3_vl_path, examples, tmp_path, margin=HAEMarginArguments(margin_gamma=1.0, rpo_alpha=0.5)
    )
    assert trainer.loss_types == ["sigmoid", "sft"] and trainer.loss_weights == [1.0, 0.5]
    chosen = np.asarray(data["ref_chosen_logps"])
    tokens = chosen / np.asarray(data["ref_chosen_logps_norm"])
    nll = -chosen.sum() / tokens.sum()
    margin = torch.tensor(trainer.train_dataset["hae_margin"], dtype=torch.float64)
    expected = F.softplus(margin).mean().item() + 0.5 * nll  # step 0: delta = 0
    loss, _ = _loss_and_grads(trainer, [trainer.train_dataset[i] for i in range(4)])
    assert loss.item() == pytest.approx(expected, abs=1e-4)


def test_margin_refused_outside_sigmoid_losses(tiny_small_vocab_qwen3_vl_path, examples, tmp_path):
    model, processor = _model(tiny_small_vocab_qwen3_vl_path)
    args = _args(tmp_path)
    args.loss_type = ["hinge"]
    with pytest.raises(ValueError, match="margin enters only the sigmoid-family losses"):
        HAEDPOTrainer(model, args, examples, processor)
    with pytest.raises(ValueError, match="run the reference pass first"):
        HAEDPOTrainer(model, _args(tmp_path), examples, processor)


def test_reference_pass_resumes_after_a_crash_keeping_every_row_once(
    tiny_small_vocab_qwen3_vl_path, examples, tmp_path, monkeypatch
):
    model, processor = _model(tiny_small_vocab_qwen3_vl_path)
    complete = run_reference_pass(
        model, processor, examples, tmp_path / "whole", fingerprint="f", batch_size=2, shard_size=2
    )

    real, calls = reference_pass.sequence_log_probs, []

    def dies_on_second_batch(*args, **kwargs):
        calls.append(1)
        if len(calls) == 2:
            raise KeyboardInterrupt("killed")
        return real(*args, **kwargs)

    monkeypatch.setattr(reference_pass, "sequence_log_probs", dies_on_second_batch)
    with pytest.raises(KeyboardInterrupt):
        run_reference_pass(
            model, processor, examples, tmp_path / "resumed", fingerprint="f", batch_size=2, shard_size=2
        )
    assert len(load_shards(tmp_path / "resumed")) == 2  # the first batch survived as a complete shard
    monkeypatch.setattr(reference_pass, "sequence_log_probs", real)
    resumed = run_reference_pass(
        model, processor, examples, tmp_path / "resumed", fingerprint="f", batch_size=2, shard_size=2
    )

    assert list(resumed["id"]) == list(examples["id"])
    assert len(set(load_shards(tmp_path / "resumed")["id"])) == len(list_shards(tmp_path / "resumed")) * 2 == 4
    assert resumed["ref_chosen_logps"] == pytest.approx(list(complete["ref_chosen_logps"]), abs=1e-6)
    with pytest.raises(ValueError, match="holds rows of another job.*--reference_overwrite true"):
        run_reference_pass(model, processor, examples, tmp_path / "resumed", fingerprint="other")


def test_resume_continues_the_same_order_across_an_epoch_boundary(tiny_small_vocab_qwen3_vl_path, tmp_path):
    """Checkpoint at the last step of epoch 0 (before the refresh runs): the resumed run draws epoch 1 the same."""
    examples = to_preference_examples(
        preference_pairs(generate_dataset(2, image_size=64, edit_types=["move", "recolour"]))
    )
    model, processor = _model(tiny_small_vocab_qwen3_vl_path)
    data = attach_reference(
        examples, run_reference_pass(model, processor, examples, tmp_path / "ref", fingerprint="r")
    )
    steps_per_epoch = -(-len(examples) // 4)

    def run(max_steps, resume=None):
        model, processor = _model(tiny_small_vocab_qwen3_vl_path)
        args = _args(tmp_path)
        args.max_steps, args.save_strategy, args.save_steps, args.learning_rate = (
            max_steps,
            "steps",
            steps_per_epoch,
            1e-3,
        )
        trainer = HAEDPOTrainer(model, args, data, processor, margin=HAEMarginArguments(margin_gamma=1.0))
        drawn, collate = [], trainer.data_collator

        def recording(rows):
            batch = collate(rows)
            drawn.append(batch["hae_index"].tolist())
            return batch

        trainer.data_collator = recording
        trainer.train(resume_from_checkpoint=resume)
        return drawn, trainer

    full, trainer = run(steps_per_epoch + 2)
    assert (trainer.state.log_history[-1]["epoch"]) > 1
    resumed, _ = run(steps_per_epoch + 2, resume=str(tmp_path / "out" / f"checkpoint-{steps_per_epoch}"))
    assert resumed[:2] == full[steps_per_epoch : steps_per_epoch + 2]


def test_lora_policy_starts_at_the_stored_reference(tiny_small_vocab_qwen3_vl_path, examples, tmp_path):
    """LoRA: the reference is the adapter-disabled model, i.e. the stored pass; step 0 matches it exactly."""
    from peft import LoraConfig

    model, processor = _model(tiny_small_vocab_qwen3_vl_path)
    data = attach_reference(
        examples, run_reference_pass(model, processor, examples, tmp_path / "ref", fingerprint="l")
    )
    trainer = HAEDPOTrainer(
        model,
        _args(tmp_path),
        data,
        processor,
        peft_config=LoraConfig(r=4, target_modules=["q_proj", "v_proj"]),
        reference_check_tolerance=1e-5,
    )
    assert trainer.ref_model is None
    loss, grads = _loss_and_grads(trainer, [trainer.train_dataset[i] for i in range(4)])
    margins = torch.tensor(trainer.train_dataset["hae_margin"][:4], dtype=torch.float64)
    assert loss.item() == pytest.approx(F.softplus(margins).mean().item(), abs=1e-5)  # delta = 0 at step 0
    assert grads and all("lora_" in name for name in grads)


def test_lora_sft_checkpoint_is_merged_once(tiny_small_vocab_qwen3_vl_path, tmp_path):
    from peft import LoraConfig, get_peft_model

    from edit_handbook.editcaption.dpo_setup import sft_checkpoint

    model, processor = _model(tiny_small_vocab_qwen3_vl_path)
    lora = get_peft_model(model, LoraConfig(r=4, target_modules=["q_proj"], init_lora_weights=False))
    lora.save_pretrained(tmp_path / "sft-lora")
    processor.save_pretrained(tmp_path / "sft-lora")
    merged = sft_checkpoint(str(tmp_path / "sft-lora"), tmp_path / "dpo")
    assert merged == str(tmp_path / "dpo" / "sft-merged")
    assert sft_checkpoint(str(tiny_small_vocab_qwen3_vl_path), tmp_path / "dpo") == str(tiny_small_vocab_qwen3_vl_path)
    reloaded, _ = _model(merged)
    inputs = {"input_ids": torch.tensor([[5, 6, 7, 8]])}
    with torch.no_grad():
        torch.testing.assert_close(reloaded(**inputs).logits, lora(**inputs).logits, atol=1e-5, rtol=0)
