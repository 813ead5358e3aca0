"""`HAEDPOTrainer`: TRL's DPOTrainer with per-pair margins, the hard-example sampler and a stored reference.

What it changes, and where:
- `compute_loss`: TRL's loss reads the reference log-probs from the batch when they are precomputed. Shifting
  the reference chosen log-prob by m_i / beta turns TRL's `beta * delta` into `beta * delta - m_i` in the
  sigmoid-family losses (the others are refused with a margin), so TRL's own loss code runs unchanged. The
  metrics TRL logs from the shifted delta are replaced by unshifted ones, plus reward accuracy and margin per
  error type and severity. At step 0 the policy's log-probs must equal the stored reference ones.
- `__init__`: the reference is the stored columns of the reference pass, so no reference model is built
  (`ref_model is None`); margins and sampler scores are computed once from the labels and hardness.
- `_get_train_sampler`: `HardExampleSampler` (with replacement, seeded by (seed, epoch)).
- `_set_signature_columns_if_needed`: keeps the reference and label columns through column pruning; the
  collator subclass turns them into tensors (TRL's vision collator drops unknown keys).
- prefix sharing (`prefix_sharing.py`; `prefix_sharing=None`: on where supported): the collator emits each pair's
  prompt once and hooks on the model run one packed row per pair, handing TRL's loss its usual per-token layout.
- `_save_checkpoint` / `train`: the sampler's scores go into each checkpoint and come back on resume.
The policy's per-pair log-probs for the metrics are read from the policy forward TRL already runs (a forward
hook on the model), not from a second forward.
"""

from __future__ import annotations

import contextlib
import json
import os
from typing import Any

import numpy as np
import torch
from transformers.trainer_utils import PREFIX_CHECKPOINT_DIR, get_last_checkpoint
from trl import DPOConfig, DPOTrainer
from trl.trainer import dpo_trainer as trl_dpo

from edit_handbook.data.schema import ERROR_TYPE, ERROR_TYPES, ID, SEVERITIES, SEVERITY
from edit_handbook.editcaption import hae
from edit_handbook.editcaption.configs import HAEMarginArguments, HAESamplerArguments
from edit_handbook.editcaption.prefix_sharing import (
    PACKED_BLOCKS,
    PAD,
    PrefixSharingHooks,
    SharedPrefixPreferenceCollator,
    resolve_prefix_sharing,
)
from edit_handbook.editcaption.reference_pass import REF_CHOSEN, REF_HARDNESS, REF_REJECTED
from edit_handbook.editcaption.sampler import HardExampleSampler, PairScores


MARGIN, INDEX = "hae_margin", "hae_index"
# Columns the collator turns into tensors; TRL's loss reads the two reference ones, this trainer pops the rest.
BATCH_COLUMNS = (REF_CHOSEN, REF_REJECTED, MARGIN, INDEX, ERROR_TYPE, SEVERITY)
_POPPED = (MARGIN, INDEX, ERROR_TYPE, SEVERITY)
# Losses of the form f(beta * delta) with f built on log-sigmoid: beta * delta - m is meaningful there.
MARGIN_LOSS_TYPES = ("sigmoid", "robust")
# Losses that read no reference log-prob, so the shifted reference leaves them unchanged.
REFERENCE_FREE_LOSS_TYPES = ("sft",)
SAMPLER_STATE_FILE = "hae_sampler.json"


class HAEPreferenceCollator(SharedPrefixPreferenceCollator):
    """TRL's vision-preference collator (each prompt once with prefix sharing) plus the stored reference, margin,
    row index and label tensors."""

    def torch_call(self, examples: list[dict[str, Any]]) -> dict[str, Any]:
        extras = [{key: example.pop(key) for key in BATCH_COLUMNS} for example in examples]
        batch = super().torch_call(examples)
        for key in (REF_CHOSEN, REF_REJECTED, MARGIN):
            batch[key] = torch.tensor([extra[key] for extra in extras], dtype=torch.float32)
        batch[INDEX] = torch.tensor([extra[INDEX] for extra in extras], dtype=torch.long)
        batch[ERROR_TYPE] = torch.tensor([ERROR_TYPES.index(extra[ERROR_TYPE]) for extra in extras])
        batch[SEVERITY] = torch.tensor([SEVERITIES.index(extra[SEVERITY]) for extra in extras])
        return batch


@contextlib.contextmanager
def _no_reference_model():
    """Keep DPOTrainer from loading a reference model: the stored reference columns replace it.

    DPOTrainer builds one (`create_model_from_path`) unless PEFT or its own `precompute_ref_log_probs` is on,
    and it refuses the latter for image data. The policy is passed in as a model, so within `__init__` that
    call only ever builds the reference.
    """
    original = trl_dpo.create_model_from_path
    trl_dpo.create_model_from_path = lambda *args, **kwargs: None
    try:
        yield
    finally:
        trl_dpo.create_model_from_path = original


def _check_settings(args: DPOConfig, margin: HAEMarginArguments) -> None:
    if args.precompute_ref_log_probs or args.sync_ref_model:
        raise ValueError(
            "HAE-DPO always trains against the stored reference of its reference pass: leave "
            "precompute_ref_log_probs and sync_ref_model false"
        )
    if args.ld_alpha is not None:
        raise ValueError("ld_alpha is not supported: the stored reference log-probs are plain sums; unset ld_alpha")
    unsupported = [t for t in args.loss_type if t not in MARGIN_LOSS_TYPES + REFERENCE_FREE_LOSS_TYPES]
    if margin.margin_gamma > 0 and margin.margin_in_loss and (unsupported or args.f_divergence_type != "reverse_kl"):
        raise ValueError(
            f"the HAE margin enters only the sigmoid-family losses {MARGIN_LOSS_TYPES} with "
            f"f_divergence_type='reverse_kl' (got loss_type={args.loss_type}, f_divergence_type="
            f"{args.f_divergence_type!r}); set margin_gamma: 0 to train {unsupported or args.loss_type} without margins"
        )


def with_rpo_term(args: DPOConfig, rpo_alpha: float | None) -> DPOConfig:
    """`args` with TRL's NLL-on-chosen loss ('sft', mean per token) added with weight `rpo_alpha` (RPO).

    The DPO losses keep their weights (1 each unless `loss_weights` is set). No-op when `rpo_alpha` is None
    or the 'sft' loss is already listed.
    """
    if rpo_alpha is None or "sft" in args.loss_type:
        return args
    weights = list(args.loss_weights or [1.0] * len(args.loss_type))
    args.loss_type = [*args.loss_type, "sft"]
    args.loss_weights = [*weights, float(rpo_alpha)]
    return args


def with_margins(dataset, margin: HAEMarginArguments):
    """`dataset` plus `hae_margin` (the loss's margin: 0 when `margin_in_loss` is off) and `hae_index` columns,
    and the margins m_i = gamma * s * w * g(h) the sampler scores with."""
    missing = [
        c for c in (REF_CHOSEN, REF_REJECTED, REF_HARDNESS, ERROR_TYPE, SEVERITY) if c not in dataset.column_names
    ]
    if missing:
        raise ValueError(
            f"the dataset has no column(s) {missing}: run the reference pass first (`edit-handbook dpo-prepare`, "
            "or reference_pass.run_reference_pass + attach_reference) on preference examples"
        )
    weights = hae.margin_weights(
        hae.severity_weights(list(dataset[SEVERITY]), margin.margin_severity_weights),
        hae.type_weights(list(dataset[ERROR_TYPE]), margin.margin_error_type_weights),
        np.asarray(list(dataset[REF_HARDNESS])),
        margin.margin_alpha,
    )
    margins = margin.margin_gamma * weights
    in_loss = margins if margin.margin_in_loss else np.zeros_like(margins)
    dataset = dataset.remove_columns([c for c in (MARGIN, INDEX) if c in dataset.column_names])
    dataset = dataset.add_column(MARGIN, in_loss.tolist()).add_column(INDEX, list(range(len(dataset))))
    return dataset, margins


class HAEDPOTrainer(DPOTrainer):
    """DPO with adaptive per-pair margins, a hard-example sampler and no reference model in memory.

    `train_dataset` (and `eval_dataset`) are preference examples with the reference pass's columns
    (`reference_pass.attach_reference`); `model` is a loaded policy, `processing_class` its processor. With
    `margin_gamma=0` and the sampler off this is TRL's sigmoid DPO, to the last bit.
    """

    def __init__(
        self,
        model,
        args: DPOConfig,
        train_dataset,
        processing_class,
        eval_dataset=None,
        peft_config=None,
        callbacks=None,
        *,
        margin: HAEMarginArguments | None = None,
        sampler: HAESamplerArguments | None = None,
        reference_check_tolerance: float | None = 0.05,
        prefix_sharing: bool | None = None,
    ) -> None:
        if isinstance(model, str):
            raise TypeError(
                "pass the loaded policy model, not a name: load it with editcaption.modeling.load_captioner"
            )
        margin = margin or HAEMarginArguments()
        sampler = sampler or HAESamplerArguments()
        args = with_rpo_term(args, margin.rpo_alpha)
        _check_settings(args, margin)
        train_dataset, margins = with_margins(train_dataset, margin)
        if eval_dataset is not None:
            eval_dataset, _ = with_margins(eval_dataset, margin)
        self.margin_args, self.sampler_args = margin, sampler
        self.reference_check_tolerance = reference_check_tolerance
        self._row_ids = list(train_dataset[ID]) if ID in train_dataset.column_names else None
        self.prefix_sharing = resolve_prefix_sharing(prefix_sharing, model, args)
        collator = HAEPreferenceCollator(processing_class, args.max_length, prefix_sharing=self.prefix_sharing)
        with _no_reference_model():
            super().__init__(
                model=model,
                args=args,
                data_collator=collator,
                train_dataset=train_dataset,
                eval_dataset=eval_dataset,
                processing_class=processing_class,
                callbacks=callbacks,
                peft_config=peft_config,
            )
        self.precompute_ref_logps = True  # TRL's loss now reads `ref_*_logps` from the batch
        self.pair_scores = None
        if sampler.hard_example_sampler:
            self.pair_scores = PairScores(
                margins,
                beta=args.beta,
                temperature=sampler.sampler_temperature,
                uniform_mix=sampler.sampler_uniform_mix,
                eps=sampler.sampler_eps,
                refresh=sampler.sampler_refresh,
            )
        self._policy_log_probs: torch.Tensor | None = None
        if self.prefix_sharing:  # registered first, so the capture below sees TRL's unshared layout
            self._prefix_sharing_hooks = PrefixSharingHooks(self.model)
        self.model.register_forward_hook(self._capture_log_probs)

    # Columns and sampling

    def _set_signature_columns_if_needed(self):
        super()._set_signature_columns_if_needed()
        self._signature_columns = [*self._signature_columns, *BATCH_COLUMNS]

    def _get_train_sampler(self, train_dataset=None):
        if self.pair_scores is None:
            return super()._get_train_sampler(train_dataset)
        seed = self.args.data_seed if self.args.data_seed is not None else self.args.seed
        return HardExampleSampler(self.pair_scores, seed=seed)

    # Loss and metrics

    def _capture_log_probs(self, module, args, output) -> None:
        """Keep the first fused forward's per-token log-probs of each loss call: the policy's."""
        log_probs = getattr(output, "log_probs", None)
        if log_probs is not None and self._policy_log_probs is None:
            self._policy_log_probs = log_probs.detach()

    def compute_loss(self, model, inputs, return_outputs=False, num_items_in_batch=None):
        extras = {key: inputs.pop(key) for key in _POPPED}
        ref_chosen = inputs[REF_CHOSEN]
        inputs[REF_CHOSEN] = ref_chosen + extras[MARGIN] / self.beta
        self._policy_log_probs = None
        result = super().compute_loss(model, inputs, return_outputs, num_items_in_batch)
        shift_mask = inputs["completion_mask"][:, 1:]
        per_token = self._policy_log_probs[:, -shift_mask.size(1) :] * shift_mask
        policy_chosen, policy_rejected = per_token.sum(dim=1).chunk(2)
        lengths = shift_mask.sum(dim=1).clamp(min=1)
        chosen_logratio = policy_chosen - ref_chosen
        delta = chosen_logratio - (policy_rejected - inputs[REF_REJECTED])
        mode = "train" if self.model.training else "eval"
        if mode == "train" and self.state.global_step == 0 and self.reference_check_tolerance is not None:
            gap = (torch.cat([policy_chosen - ref_chosen, policy_rejected - inputs[REF_REJECTED]]) / lengths).abs()
            self._check_reference(gap, torch.cat([extras[INDEX], extras[INDEX]]))
        self._log_unshifted(mode, delta, chosen_logratio, extras)
        if mode == "train" and self.prefix_sharing:
            self._count_packed_tokens(inputs)
        return result

    def _count_packed_tokens(self, inputs) -> None:
        """TRL's `num_tokens` counted the unshared view's tokens; count the packed rows the model ran instead."""
        view, packed = self.accelerator.gather_for_metrics(
            (inputs["attention_mask"].sum(), (inputs[PACKED_BLOCKS] != PAD).sum())
        )
        self._total_train_tokens += int(packed.sum() - view.sum()) // self._tp_size
        self._metrics["train"]["num_tokens"] = [self._total_train_tokens]

    def _check_reference(self, gap: torch.Tensor, indices: torch.Tensor) -> None:
        """Step 0: the policy is the reference, so its log-probs must equal the stored ones (all ranks agree)."""
        gap, indices = self.accelerator.gather((gap.detach().float(), indices))
        worst = float(gap.max())
        if worst > self.reference_check_tolerance:
            bad = indices[gap > self.reference_check_tolerance].unique()[:5].tolist()
            rows = [self._row_ids[i] for i in bad] if self._row_ids is not None else bad
            raise ValueError(
                f"step-0 check: the policy's log-probs differ from the stored reference by up to {worst:.4g} nats per "
                f"token (tolerance {self.reference_check_tolerance}) on rows {rows}. The reference pass ran with "
                "another model, processor setting or dtype: rerun it (`edit-handbook dpo-prepare --reference_overwrite "
                "true` with this recipe), or raise reference_check_tolerance if this is numerical noise."
            )

    def _log_unshifted(self, mode: str, delta: torch.Tensor, chosen_logratio: torch.Tensor, extras: dict) -> None:
        """Reward metrics from the unshifted delta (TRL's come from the shifted one), overall and per label."""
        gathered = self.accelerator.gather_for_metrics(
            {
                "reward_margin": self.beta * delta.detach(),
                "chosen_reward": self.beta * chosen_logratio.detach(),
                "margin": extras[MARGIN],
                "error_type": extras[ERROR_TYPE],
                "severity": extras[SEVERITY],
                "index": extras[INDEX],
            }
        )
        reward_margin = gathered["reward_margin"].float().cpu()
        correct = (reward_margin > 0).float()
        metrics = self._metrics[mode]
        metrics["rewards/chosen"][-1] = gathered["chosen_reward"].float().mean().item()
        metrics["rewards/accuracies"][-1] = correct.mean().item()
        metrics["rewards/margins"][-1] = reward_margin.mean().item()
        metrics["hae/margin"].append(gathered["margin"].float().mean().item())
        for column, labels in (("error_type", ERROR_TYPES), ("severity", SEVERITIES)):
            codes = gathered[column].cpu()
            for code, label in enumerate(labels):
                members = codes == code
                if members.any():  # per-pair values: the logged mean is over pairs, not over steps
                    metrics[f"rewards/accuracies/{label}"].extend(correct[members].tolist())
                    metrics[f"rewards/margins/{label}"].extend(reward_margin[members].tolist())
        if mode == "train" and self.pair_scores is not None:
            self.pair_scores.observe(gathered["index"].cpu().numpy(), (reward_margin / self.beta).double().numpy())

    # Checkpoints

    def _save_checkpoint(self, model, trial):
        super()._save_checkpoint(model, trial)
        if self.pair_scores is not None and self.args.should_save:
            folder = os.path.join(
                self._get_output_dir(trial=trial), f"{PREFIX_CHECKPOINT_DIR}-{self.state.global_step}"
            )
            with open(os.path.join(folder, SAMPLER_STATE_FILE), "w") as file:
                json.dump(self.pair_scores.state_dict(), file)

    def train(self, resume_from_checkpoint: str | bool | None = None, **kwargs):
        if resume_from_checkpoint is True:
            resume_from_checkpoint = get_last_checkpoint(self.args.output_dir)
        if resume_from_checkpoint and self.pair_scores is not None:
            path = os.path.join(resume_from_checkpoint, SAMPLER_STATE_FILE)
            if not os.path.exists(path):
                raise FileNotFoundError(
                    f"{path} is missing: this checkpoint was not written with the hard-example sampler on, so the "
                    "resumed order would differ; resume with hard_example_sampler: false or from a sampler checkpoint"
                )
            with open(path) as file:
                self.pair_scores.load_state_dict(json.load(file))
        return super().train(resume_from_checkpoint=resume_from_checkpoint, **kwargs)
