"""What `edit-handbook synthesize` computes, and which model (local or HTTP) answers.

Parsed by `trl.TrlParser` from a recipe YAML plus CLI flags; every field's `help` is its CLI documentation.
Field names must not clash with the TRL configs they are parsed beside (SFTConfig, DPOConfig, ModelConfig).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal


@dataclass
class SynthesisArguments:
    """What `edit-handbook synthesize <task>` computes and where it goes (see `edit_handbook.synth`)."""

    task: Literal["caption", "filter", "rectify", "negatives"] = field(
        default="rectify",
        metadata={
            "help": "caption (write instructions), filter (judge score, keep >= judge_threshold), rectify "
            "(SuperEdit's <= 77 CLIP-token description), negatives (k single-attribute wrong instructions)."
        },
    )
    output_dir: str = field(
        default="outputs/synthesis", metadata={"help": "Folder of shards (resumable), dataset and card."}
    )
    chunk_size: int = field(default=32, metadata={"help": "Rows handed to the backend at once."})
    shard_size: int = field(default=256, metadata={"help": "Rows per written shard (a crash loses < this)."})
    overwrite: bool = field(default=False, metadata={"help": "Start over instead of resuming output_dir."})
    retry_failed: Literal["transient", "all", "none"] = field(
        default="transient",
        metadata={
            "help": "Failed rows of an earlier run computed again on resume: 'transient' (server down, timeout, "
            "429, 5xx), 'all' (unusable answers too) or 'none'."
        },
    )
    judge_threshold: float = field(
        default=4.0, metadata={"help": "filter: rows whose judge score (0-5) is below this are rejected."}
    )
    num_negatives: int = field(default=4, metadata={"help": "negatives: k wrong instructions per pair."})
    min_negatives: int = field(
        default=1, metadata={"help": "negatives: a row with fewer usable negatives than this is rejected."}
    )
    max_clip_tokens: int = field(
        default=77, metadata={"help": "Longest rectified / negative instruction, CLIP tokens counting BOS/EOS."}
    )
    push_to_hub: bool = field(default=False, metadata={"help": "Push the dataset and its card to the Hub."})
    hub_dataset_id: str | None = field(default=None, metadata={"help": "Hub dataset repo id for push_to_hub."})


@dataclass
class SynthesisBackendArguments:
    """Which model answers: a local transformers VLM, or any OpenAI-compatible server."""

    backend: Literal["local", "http"] = field(default="local", metadata={"help": "'local' or 'http'."})
    synthesis_model: str = field(
        default="Qwen/Qwen3-VL-8B-Instruct",
        metadata={
            "help": "local: a VLM checkpoint (Hub id or folder; 'tiny:qwen3-vl' for the tiny CPU model); "
            "http: the model name the server expects."
        },
    )
    synthesis_dtype: str = field(default="auto", metadata={"help": "local: model dtype (auto, bfloat16, ...)."})
    batch_size: int = field(default=8, metadata={"help": "local: pairs per generate call."})
    static_cache: bool = field(
        default=False, metadata={"help": "local: generate with a static KV cache (lets torch.compile reuse graphs)."}
    )
    base_url: str = field(
        default="http://127.0.0.1:8000/v1", metadata={"help": "http: server base URL, up to and including /v1."}
    )
    api_key_env: str = field(
        default="OPENAI_API_KEY",
        metadata={"help": "http: environment variable holding the API key (read, never logged; unset: no key)."},
    )
    concurrency: int = field(default=8, metadata={"help": "http: requests in flight at most."})
    request_timeout: float = field(
        default=120.0,
        metadata={
            "help": "http: deadline in seconds for one attempt (connect, headers and whole body); then a retry."
        },
    )
    max_reply_bytes: int = field(
        default=256 * 1024,
        metadata={"help": "http: a reply longer than this fails its row (read no further); answers are short."},
    )
    max_retries: int = field(
        default=5,
        metadata={"help": "http: retries on 429, 5xx, timeouts and unreadable bodies (exponential backoff)."},
    )
    retry_backoff: float = field(default=1.0, metadata={"help": "http: first backoff in seconds; doubles each retry."})
    response_format: Literal["json_schema", "json_object", "none"] = field(
        default="json_schema",
        metadata={
            "help": "http: how JSON answers are requested (json_schema for vLLM / OpenAI; none for servers "
            "that refuse response_format). Answers are parsed strictly either way, with one repair attempt."
        },
    )
