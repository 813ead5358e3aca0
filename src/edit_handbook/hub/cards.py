"""Model and dataset cards.

Cards are plain Markdown with YAML front matter (built with `huggingface_hub`'s card data, so
the Hub indexes base model, datasets and licence). Every card embeds its artifact's `run_info`.
`read_card` parses a card this module wrote, so `edit-handbook push` can rewrite it complete
(base model, data and recipe from `run_info.json`; evaluation, grid) without a second writer.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from huggingface_hub import DatasetCardData, ModelCardData

from ..data.presets import get_preset
from ..redaction import redact


CITATIONS = """\
```bibtex
@misc{editcaption2026,
  title         = {EditCaption},
  note          = {SFT + HAE-DPO for editing-instruction captioning},
  year          = {2026},
  eprint        = {2604.08213},
  archivePrefix = {arXiv},
}

@inproceedings{li2025superedit,
  title     = {SuperEdit: Rectifying and Facilitating Supervision for Instruction-Based Image Editing},
  author    = {Li, Ming and others},
  booktitle = {ICCV},
  year      = {2025},
  eprint    = {2505.02370},
  archivePrefix = {arXiv},
}
```"""

_KINDS = {
    "captioner": {
        "pipeline_tag": "image-text-to-text",
        "library_name": "transformers",
        "what": "writes the editing instruction that turns a source image into an edited image",
        "use": "Label or re-label (source, edited) image pairs with accurate editing instructions, "
        "or rectify noisy instructions (SuperEdit's four-aspect description).",
        "how": """\
```python
from transformers import AutoModelForImageTextToText, AutoProcessor
from edit_handbook.editcaption.inference import describe_edit

model = AutoModelForImageTextToText.from_pretrained("{repo_id}", dtype="auto", device_map="auto")
processor = AutoProcessor.from_pretrained("{repo_id}")
print(describe_edit(model, processor, [source_image], [edited_image]))  # one instruction per pair
```""",
    },
    "editor": {
        "pipeline_tag": "image-to-image",
        "library_name": "diffusers",
        "what": "edits an image following a text instruction (InstructPix2Pix architecture)",
        "use": "Instruction-based image editing of photos and illustrations.",
        "how": """\
```python
import torch
from diffusers import StableDiffusionInstructPix2PixPipeline

pipe = StableDiffusionInstructPix2PixPipeline.from_pretrained("{repo_id}", dtype=torch.float16).to("cuda")
edited = pipe("make the sky a sunset", image=source_image, num_inference_steps=50,
              guidance_scale=10, image_guidance_scale=1.5).images[0]
```""",
    },
}

LIMITS = (
    "Trained and checked on the data named above; instructions about fine spatial relations, "
    "text in images and identities remain error-prone. Outputs can reproduce biases of the "
    "base model and of the training data. Check instructions before using them to train editors."
)


def _front_matter(data: ModelCardData | DatasetCardData) -> str:
    return f"---\n{data.to_yaml()}\n---\n"


def _run_info_section(run_info: dict[str, Any] | None) -> str:
    if not run_info:
        return ""
    return f"## Run info\n\n```json\n{json.dumps(run_info, indent=2, sort_keys=True)}\n```\n"


def model_card(
    *,
    model_name: str,
    kind: str,
    base_model: str,
    datasets: list[str] | None = None,
    recipe_config: dict[str, Any] | None = None,
    metrics_markdown: str | None = None,
    example_grid: str | None = None,
    run_info: dict[str, Any] | None = None,
    license: str = "apache-2.0",
    example_note: str | None = None,
    recipe_file: str | None = None,
    repo_id: str | None = None,
) -> str:
    """A model card for a trained captioner (VLM) or editor (InstructPix2Pix).

    `example_note` says what the grid shows; `recipe_file` names the recipe YAML the run used; with `repo_id`
    the card shows how to load the model from the Hub.
    """
    if kind not in _KINDS:
        raise ValueError(f"kind must be one of {sorted(_KINDS)}, got {kind!r}")
    info = _KINDS[kind]
    data = ModelCardData(
        base_model=base_model,
        datasets=[d for d in (datasets or []) if "/" in d] or None,
        license=license,
        library_name=info["library_name"],
        pipeline_tag=info["pipeline_tag"],
        tags=["edit-handbook", kind, "image-editing"],
    )
    parts = [
        _front_matter(data),
        f"# {model_name}\n",
        f"A {kind} that {info['what']}, fine-tuned from [{base_model}](https://huggingface.co/{base_model}) "
        "with edit-handbook (EditCaption SFT + HAE-DPO, SuperEdit).\n",
        "## Training data\n\n" + "\n".join(f"- {d}" for d in (datasets or ["(not recorded)"])) + "\n",
    ]
    if recipe_config or recipe_file:
        where = f"Recipe file: `{recipe_file}` (edit-handbook repository).\n\n" if recipe_file else ""
        config = (
            f"```json\n{json.dumps(recipe_config, indent=2, sort_keys=True, default=str)}\n```\n"
            if recipe_config
            else ""
        )
        parts.append(f"## Recipe\n\n{where}{config}")
    if metrics_markdown:
        parts.append(f"## Evaluation\n\n{metrics_markdown.strip()}\n")
    if example_grid:
        note = f"\n{example_note.strip()}\n" if example_note else ""
        parts.append(f"## Examples\n\n![examples]({example_grid})\n{note}")
    if repo_id:
        parts.append(f"## How to use\n\n{info['how'].format(repo_id=repo_id)}\n")
    parts += [f"## Intended use\n\n{info['use']}\n", f"## Limitations\n\n{LIMITS}\n", f"## Citation\n\n{CITATIONS}\n"]
    parts.append(_run_info_section(run_info))
    return "\n".join(parts)


def dataset_card(
    *,
    name: str,
    description: str,
    columns: dict[str, str],
    num_rows: dict[str, int],
    provenance: str,
    prompt_version: str | None = None,
    counts: dict[str, int] | None = None,
    example_grid: str | None = None,
    run_info: dict[str, Any] | None = None,
    license: str = "apache-2.0",
) -> str:
    """A dataset card: schema, provenance, counts by outcome, prompt version, licence, run info."""
    total = sum(num_rows.values())
    size = "n<1K" if total < 1_000 else "1K<n<10K" if total < 10_000 else "10K<n<100K" if total < 100_000 else "n>100K"
    data = DatasetCardData(
        license=license,
        pretty_name=name,
        size_categories=[size],
        task_categories=["image-to-image", "image-text-to-text"],
        tags=["edit-handbook", "image-editing"],
    )
    schema_rows = "\n".join(f"| `{column}` | {kind} |" for column, kind in columns.items())
    split_rows = "\n".join(f"| {split} | {rows} |" for split, rows in num_rows.items())
    parts = [
        _front_matter(data),
        f"# {name}\n",
        f"{description}\n",
        f"## Schema\n\n| column | type |\n|---|---|\n{schema_rows}\n",
        f"## Splits\n\n| split | rows |\n|---|---|\n{split_rows}\n",
        f"## Provenance\n\n{provenance}\n" + (f"\nPrompt version: `{prompt_version}`\n" if prompt_version else ""),
    ]
    if counts:
        parts.append(
            "## Counts\n\n| outcome | rows |\n|---|---|\n"
            + "\n".join(f"| {k} | {v} |" for k, v in counts.items())
            + "\n"
        )
    if example_grid:
        parts.append(f"## Examples\n\n![examples]({example_grid})\n")
    parts += [f"## Licence\n\n{license}\n", f"## Citation\n\n{CITATIONS}\n", _run_info_section(run_info)]
    return "\n".join(parts)


def write_card(folder: str | Path, text: str) -> Path:
    """`<folder>/README.md`, with any credential the text quotes (a URL's user:key, a token flag) redacted."""
    path = Path(folder) / "README.md"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(redact(text))
    return path


@dataclass
class CardText:
    """A card split into its parts: front matter, title, the text before the first section, and sections."""

    meta: dict[str, Any] = field(default_factory=dict)
    title: str = ""
    intro: str = ""
    sections: dict[str, str] = field(default_factory=dict)


def read_card(folder: str | Path) -> CardText | None:
    """Parse `<folder>/README.md` (front matter, `# title`, `## Section`s); None when there is no card."""
    path = Path(folder) / "README.md"
    if not path.exists():
        return None
    text = path.read_text()
    meta: dict[str, Any] = {}
    front = re.match(r"---\n(.*?)\n---\n", text, flags=re.DOTALL)
    if front:
        meta = yaml.safe_load(front.group(1)) or {}
        text = text[front.end() :]
    parts = re.split(r"^## (.+)$", text, flags=re.MULTILINE)
    title_match = re.search(r"^# (.+)$", parts[0], flags=re.MULTILINE)
    intro = parts[0][title_match.end() :] if title_match else parts[0]
    sections = {name.strip(): body.strip() for name, body in zip(parts[1::2], parts[2::2])}
    return CardText(meta, title_match.group(1).strip() if title_match else "", intro.strip(), sections)


_HUB_ID = re.compile(r"^[\w.-]+/[\w.-]+$")


def is_hub_id(name: str | None) -> bool:
    """`owner/name` and not a local path: what a card's `base_model` / `datasets` may hold."""
    return bool(name) and bool(_HUB_ID.match(name)) and not Path(name).exists()


def _section(config: dict[str, Any], *names: str) -> dict[str, Any]:
    for name in names:
        if isinstance(config.get(name), dict):
            return config[name]
    return {}


def card_inputs(run_info: dict[str, Any]) -> dict[str, Any]:
    """Base model, training data and recipe file of a run, read from its `run_info` (any of this project's
    training scripts: SFT and DPO record `script`/`model` sections, SuperEdit one section per config class).
    Values it cannot find are None."""
    config = run_info.get("config") or {}
    script = _section(config, "script")
    model = _section(config, "model")
    editor = _section(config, "SuperEditModelArguments")
    data = _section(config, "DataArguments", "data") or script
    base = script.get("base_model") or model.get("model_name_or_path") or editor.get("pretrained_model_name_or_path")
    dataset = data.get("dataset_name")
    if not dataset and data.get("dataset_preset"):
        dataset = get_preset(data["dataset_preset"]).hub_id
    recipe = re.search(r"--config[= ](\S+)", run_info.get("command") or "")
    return {
        "base_model": base,
        "datasets": [dataset] if dataset else [],
        "recipe_file": recipe.group(1) if recipe else None,
    }
