"""Evaluation settings: Real-Edit editing quality, instruction quality, the VLM judge.

Parsed by `trl.TrlParser` from a recipe YAML plus CLI flags; every field's `help` is its CLI documentation.
Field names must not clash with the TRL configs they are parsed beside (SFTConfig, DPOConfig, ModelConfig).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

from ..models.editor import (
    PAPER_GUIDANCE_SCALE,
    PAPER_IMAGE_GUIDANCE_SCALE,
    PAPER_INFERENCE_STEPS,
    PAPER_SEED,
)
from ..synth.configs import SynthesisBackendArguments


# Evaluation: editing quality. SuperEdit's Real-Edit protocol (docs/method.md, section 3): the paper's
# inference settings are the defaults. Read by `evaluation.editing.evaluate_editor` (its `settings`).
@dataclass
class EditingEvaluationArguments:
    """Which editor edits which Real-Edit photos, how, and what judges and measures the edits."""

    editor_model: str | None = field(
        default=None,
        metadata={
            "help": "InstructPix2Pix pipeline to evaluate: Hub id, local folder, or 'tiny:instruct-pix2pix' "
            "(synthetic-editing also takes baseline:copy and baseline:target).",
            "aliases": ["--editor"],
        },
    )
    real_edit_dir: str | None = field(
        default=None,
        metadata={"help": "Real-Edit as SuperEdit released it: the folder holding eval_instruct.json and imgs/."},
    )
    real_edit_types: list[str] | None = field(
        default=None,
        metadata={"help": "Edit types to keep (Local, Remove, Add, Texture, Background, Global, Style). Unset: all."},
    )
    real_edit_images: list[str] | None = field(
        default=None, metadata={"help": "Photos to keep, by key in eval_instruct.json (e.g. '2.jpeg'). Unset: all."}
    )
    real_edit_max_images: int | None = field(default=None, metadata={"help": "Keep only the first N photos."})
    edit_scheduler: Literal["euler_ancestral", "pipeline"] = field(
        default="euler_ancestral",
        metadata={"help": "Sampler: 'euler_ancestral' (Real-Edit protocol) or 'pipeline' (the editor's own)."},
    )
    edit_num_inference_steps: int = field(
        default=PAPER_INFERENCE_STEPS, metadata={"help": "Denoising steps (Real-Edit protocol: 50)."}
    )
    edit_guidance_scale: float = field(
        default=PAPER_GUIDANCE_SCALE, metadata={"help": "Text guidance (Real-Edit protocol: 10)."}
    )
    edit_image_guidance_scale: float = field(
        default=PAPER_IMAGE_GUIDANCE_SCALE, metadata={"help": "Image guidance (Real-Edit protocol: 1.5)."}
    )
    edit_seed: int = field(
        default=PAPER_SEED,
        metadata={
            "help": "Seed (Real-Edit protocol: 42). Every edit gets its own generator seeded with it, so an edit does "
            "not depend on batch or order (the release draws all edits from one generator in sequence)."
        },
    )
    edit_resolution: int | None = field(
        default=None,
        metadata={
            "help": "Shorter side, in pixels, the photo is resized to before editing (aspect kept; the pipeline "
            "rounds each side down to a multiple of 8). Unset: the photo's own size, as the release edits it."
        },
    )
    edit_dtype: Literal["auto", "float32", "float16", "bfloat16"] = field(
        default="auto",
        metadata={"help": "Editor dtype when loaded by name; 'auto': float16 on CUDA (as the release), else float32."},
    )
    edit_batch_size: int = field(default=4, metadata={"help": "Edits per pipeline call (same-size photos batch)."})
    edit_overwrite: bool = field(
        default=False,
        metadata={"help": "Redo every edit. Otherwise edits already in <output_dir>/edits are reused (resume)."},
    )
    edit_judge_resolution: int = field(
        default=512,
        metadata={"help": "Height the judge sees the source and the edit at (aspect kept; the release's 512)."},
    )
    edit_judge_max_new_tokens: int = field(default=128, metadata={"help": "Answer budget of each judge question."})
    edit_metrics: list[str] = field(
        default_factory=lambda: ["clip_i", "clip_t", "clip_directional", "dino_similarity"],
        metadata={
            "help": "Automatic metrics: clip_i, clip_t, clip_directional, dino_similarity, l1, l2 (l1/l2 need "
            "target images, which Real-Edit has not). A metric whose model cannot be loaded is skipped and noted."
        },
    )
    edit_clip_model: str | None = field(
        default=None, metadata={"help": "CLIP for the CLIP metrics. Unset: openai/clip-vit-large-patch14."}
    )
    edit_dino_model: str | None = field(
        default=None, metadata={"help": "DINOv2 for dino_similarity. Unset: facebook/dinov2-base."}
    )
    edit_metric_batch_size: int = field(default=32, metadata={"help": "Images per CLIP / DINO forward pass."})

    def __post_init__(self) -> None:
        from .metrics import METRIC_NAMES
        from .real_edit import EDIT_TYPES

        for name, values, known in (
            ("edit_metrics", self.edit_metrics, METRIC_NAMES),
            ("real_edit_types", self.real_edit_types or [], EDIT_TYPES),
        ):
            unknown = [value for value in values if value not in known]
            if unknown:
                raise ValueError(f"{name}: unknown {unknown}; choose from {', '.join(known)}")
        for name in ("edit_num_inference_steps", "edit_batch_size", "edit_judge_resolution", "edit_metric_batch_size"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be at least 1, got {getattr(self, name)}")


# Evaluation: instruction quality (issue 7). Parsed by `evaluate.py` with DataArguments (the pairs to evaluate on);
# the Real-Edit suite's arguments join the same parser.


# Evaluation: an editor on fresh synthetic pairs, scored from the pixels (`evaluation.synthetic_editing`).
@dataclass
class SyntheticEditingArguments:
    """The pairs, sampling settings and preservation threshold of the `synthetic-editing` suite."""

    synthetic_editing_pairs_per_type: int = field(default=50, metadata={"help": "Fresh pairs per edit type."})
    synthetic_editing_types: list[str] = field(
        default_factory=lambda: ["recolour", "move", "resize", "add", "remove"],
        metadata={"help": "Edit types to score (those with a pixel reading: recolour move resize add remove)."},
    )
    synthetic_editing_seed: int = field(
        default=1000, metadata={"help": "Generator seed of the pairs; the recipes train on other seeds."}
    )
    synthetic_editing_image_size: int = field(default=32, metadata={"help": "Side of source, target and edit (px)."})
    synthetic_editing_instruction_column: Literal["instruction", "rectified_instruction"] = field(
        default="instruction", metadata={"help": "Which text the editor gets: the reference or the rectified one."}
    )
    synthetic_editing_threshold: float = field(
        default=0.04,
        metadata={"help": "Largest mean absolute error (per channel, in [0, 1]) outside the edited region."},
    )
    synthetic_editing_steps: int = field(default=20, metadata={"help": "Denoising steps per edit."})
    synthetic_editing_guidance_scale: float = field(default=3.0, metadata={"help": "Text guidance."})
    synthetic_editing_image_guidance_scale: float = field(default=1.5, metadata={"help": "Image guidance."})
    synthetic_editing_sampling_seed: int = field(default=42, metadata={"help": "Seed of each edit's generator."})
    synthetic_editing_scheduler: Literal["pipeline", "euler_ancestral"] = field(
        default="pipeline", metadata={"help": "The editor's own sampler, or Euler Ancestral."}
    )
    synthetic_editing_batch_size: int = field(default=32, metadata={"help": "Edits per pipeline call."})
    synthetic_editing_wrong_instructions: bool = field(
        default=True,
        metadata={"help": "Also edit each recolour under a wrong colour and report how often that colour appears."},
    )

    def suite_kwargs(self) -> dict[str, Any]:
        """Keyword arguments of `evaluate_synthetic_editing`."""
        prefix = "synthetic_editing_"
        names = {"pairs_per_type", "image_size", "instruction_column", "threshold", "steps", "guidance_scale",
                 "image_guidance_scale", "sampling_seed", "scheduler", "batch_size", "wrong_instructions"}  # fmt: skip
        kwargs = {name: getattr(self, prefix + name) for name in names}
        return {**kwargs, "pair_seed": self.synthetic_editing_seed, "edit_types": tuple(self.synthetic_editing_types)}


@dataclass
class EvaluationArguments:
    """Which suite runs on which captioners, where the report goes, and how intervals are computed."""

    suite: Literal["instructions", "synthetic", "real-edit", "synthetic-editing", "report"] = field(
        default="instructions",
        metadata={
            "help": "instructions (VLM judge: score, correct / minor / critical, error type), synthetic (exact "
            "checker on synthetic pairs, plus synthesis_output), real-edit (an editor on Real-Edit), "
            "synthetic-editing (an editor on fresh synthetic pairs, scored from the pixels), report "
            "(render saved results)."
        },
    )
    output_dir: str = field(
        default="outputs/evaluation", metadata={"help": "Folder of results/, images/, plots/, report.json, report.md."}
    )
    captioners: list[str] = field(
        default_factory=lambda: ["column:instruction"],
        metadata={
            "help": "Captioners side by side, each '[name=]source': 'column:<col>' (instructions already in the data), "
            "'http:<model>' (served at captioner_base_url), or a local checkpoint folder / Hub id. The first is the "
            "baseline of the paired differences."
        },
    )
    max_pairs: int | None = field(default=None, metadata={"help": "Evaluate the first N pairs only. Unset: all."})
    captioner_base_url: str = field(
        default="http://127.0.0.1:8000/v1", metadata={"help": "Base URL (up to /v1) of 'http:' captioners."}
    )
    captioner_api_key_env: str = field(
        default="OPENAI_API_KEY",
        metadata={"help": "Environment variable with the 'http:' captioners' API key (never logged; unset: none)."},
    )
    captioner_dtype: str = field(default="auto", metadata={"help": "Local captioners' dtype (auto, bfloat16, ...)."})
    captioner_batch_size: int = field(default=8, metadata={"help": "Pairs per generate call of local captioners."})
    synthesis_output: str | None = field(
        default=None,
        metadata={
            "help": "synthetic: also check a synthesis output folder (`edit-handbook synthesize rectify/negatives`): "
            "rectification success (<= 77 CLIP tokens, four aspects) and negative validity."
        },
    )
    results: list[str] | None = field(
        default=None, metadata={"help": "report: SuiteResult JSON files or report folders to render together."}
    )
    report_title: str = field(default="Evaluation report", metadata={"help": "Title of report.md."})
    grid_items: int = field(default=8, metadata={"help": "Items in each best / worst image grid."})
    bootstrap_resamples: int = field(default=1000, metadata={"help": "Bootstrap resamples per interval."})
    confidence_level: float = field(default=0.95, metadata={"help": "Coverage of the bootstrap intervals."})
    bootstrap_seed: int = field(default=0, metadata={"help": "Seed of the bootstrap resampling."})

    def stats(self) -> dict[str, Any]:
        """Keyword arguments of `evaluation.stats.estimate`."""
        return {
            "num_resamples": self.bootstrap_resamples,
            "confidence": self.confidence_level,
            "seed": self.bootstrap_seed,
        }


@dataclass
class EvaluationJudgeArguments:
    """The VLM judge: a local transformers model or any OpenAI-compatible server, answers optionally cached."""

    judge_backend: Literal["local", "http"] = field(default="local", metadata={"help": "'local' or 'http'."})
    judge_model: str = field(
        default="Qwen/Qwen3-VL-8B-Instruct",
        metadata={"help": "local: checkpoint folder or Hub id ('tiny:qwen3-vl' on CPU); http: the served model name."},
    )
    judge_dtype: str = field(default="auto", metadata={"help": "local: model dtype."})
    judge_batch_size: int = field(default=8, metadata={"help": "local: judge requests per generate call."})
    judge_base_url: str = field(default="http://127.0.0.1:8000/v1", metadata={"help": "http: base URL up to /v1."})
    judge_api_key_env: str = field(
        default="OPENAI_API_KEY", metadata={"help": "http: environment variable with the API key (never logged)."}
    )
    judge_concurrency: int = field(default=8, metadata={"help": "http: requests in flight at most."})
    judge_request_timeout: float = field(default=120.0, metadata={"help": "http: seconds before a retry."})
    judge_max_retries: int = field(default=5, metadata={"help": "http: retries on 429, 5xx and timeouts."})
    judge_response_format: Literal["json_schema", "json_object", "none"] = field(
        default="json_schema", metadata={"help": "http: how JSON answers are requested (see synthesis backends)."}
    )
    judge_max_new_tokens: int = field(default=256, metadata={"help": "Longest judge answer, in tokens."})
    judge_cache_dir: str | None = field(
        default=None, metadata={"help": "Store every judge reply here: a rerun asks the model nothing twice."}
    )

    def backend_arguments(self) -> SynthesisBackendArguments:
        """The same settings as the synthesis backends take (one factory builds both)."""
        return SynthesisBackendArguments(
            backend=self.judge_backend,
            synthesis_model=self.judge_model,
            synthesis_dtype=self.judge_dtype,
            batch_size=self.judge_batch_size,
            base_url=self.judge_base_url,
            api_key_env=self.judge_api_key_env,
            concurrency=self.judge_concurrency,
            request_timeout=self.judge_request_timeout,
            max_retries=self.judge_max_retries,
            response_format=self.judge_response_format,
        )
