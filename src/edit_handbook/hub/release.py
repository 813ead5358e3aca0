"""Make a training output or dataset folder ready for the Hub: complete cards, example grids, Parquet splits.

`edit-handbook push` calls `complete_model_card` (captioner, editor) or `prepare_dataset`; the cards themselves
are `cards.model_card` / `cards.dataset_card`, filled from the folder's `run_info.json`, its existing card (kept
sections: evaluation, description, provenance) and what the options add.
"""

from __future__ import annotations

import json
import re
import shutil
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import datasets
import torch

from ..data import schema
from ..data.preview import example_grid
from ..data.validation import outside_paths
from . import cards


GRID_FILE = "examples.png"
DATASET_STAGING = "hub"  # under the dataset folder: what is uploaded (Parquet shards, card, grid, run_info)
PARQUET_SHARD_BYTES = 500 * 1024**2
# Label columns a dataset card counts per split (whichever the data has).
COUNTED_COLUMNS = ("synthesis_status", schema.EDIT_TYPE, "failure_mode", schema.ERROR_TYPE, schema.SEVERITY)


@dataclass
class ReleaseOptions:
    """What a release needs beyond the folder (the `edit-handbook push` options of the same names)."""

    kind: str
    repo_id: str
    license: str = "apache-2.0"
    base_model: str | None = None
    datasets: list[str] | None = None
    eval_report: str | None = None
    examples: str = "synthetic"
    num_examples: int = 8
    device: str = "cpu"
    inference_steps: int = 50
    guidance_scale: float = 10.0
    image_guidance_scale: float = 1.5
    seed: int = 42
    staging_dir: str | None = None


def evaluation_markdown(report_dir: str | Path) -> str:
    """The card's Evaluation section from a saved report: `evaluation.report.card_section` when the evaluation
    suite provides it, else the report's `report.md`."""
    try:
        from ..evaluation.report import card_section
    except ImportError:
        card_section = None
    if card_section is not None:
        return card_section(report_dir)
    path = Path(report_dir) / "report.md"
    if not path.is_file():
        raise FileNotFoundError(f"--eval-report {report_dir}: no report.md there; pass the folder an evaluation wrote")
    return path.read_text()


def example_pairs(source: str, count: int) -> list[dict]:
    """`count` pairs with PIL images: synthetic ones (seeded, licence-free) or the first rows of a dataset."""
    if source == "synthetic":
        from ..data.synthetic import generate_pairs

        return list(generate_pairs(count, seed=0, image_size=256))
    from ..data.loading import load_edit_pairs

    dataset, _ = load_edit_pairs(source, validation="off")
    return [dataset[index] for index in range(min(count, len(dataset)))]


def captioner_grid(folder: Path, pairs: list[dict], device: str) -> str:
    """The pairs with the instruction this captioner writes for each, as `examples.png`; returns the note."""
    from ..editcaption.inference import describe_edit
    from ..models import load_vlm

    model, processor = load_vlm(folder)
    model.to(device)
    answers = describe_edit(
        model, processor, [p[schema.SOURCE_IMAGE] for p in pairs], [p[schema.TARGET_IMAGE] for p in pairs]
    )
    example_grid([{**pair, schema.INSTRUCTION: text} for pair, text in zip(pairs, answers)], folder / GRID_FILE)
    return "Each tile: source (left) and edited image (right) of a pair, with the instruction this model wrote for it."


def editor_grid(folder: Path, pairs: list[dict], options: ReleaseOptions) -> str:
    """Each pair's source with this editor's edit for the pair's instruction, as `examples.png`; returns the note."""
    from ..models import load_instruct_pix2pix

    pipeline = load_instruct_pix2pix(folder).to(options.device)
    pipeline.set_progress_bar_config(disable=True)
    rows = []
    for pair in pairs:
        source = pair[schema.SOURCE_IMAGE].convert("RGB")
        edited = pipeline(
            pair[schema.INSTRUCTION],
            image=source,
            num_inference_steps=options.inference_steps,
            guidance_scale=options.guidance_scale,
            image_guidance_scale=options.image_guidance_scale,
            generator=torch.Generator(options.device).manual_seed(options.seed),
        ).images[0]
        rows.append(
            {schema.SOURCE_IMAGE: source, schema.TARGET_IMAGE: edited, schema.INSTRUCTION: pair[schema.INSTRUCTION]}
        )
    example_grid(rows, folder / GRID_FILE)
    return (
        f"Each tile: source (left) and this model's edit (right), with the instruction it followed "
        f"({options.inference_steps} steps, text guidance {options.guidance_scale}, image guidance "
        f"{options.image_guidance_scale}, seed {options.seed})."
    )


def _read_run_info(folder: Path) -> dict[str, Any]:
    path = folder / "run_info.json"
    return json.loads(path.read_text()) if path.is_file() else {}


def _existing_grid(card: cards.CardText | None, folder: Path) -> tuple[str | None, str | None]:
    """(image, note) of the card's Examples section when its image is in the folder."""
    section = card.sections.get("Examples", "") if card else ""
    match = re.match(r"!\[[^\]]*\]\(([^)]+)\)\s*(.*)", section, flags=re.DOTALL)
    if not match or not (folder / match.group(1)).is_file():
        return None, None
    return match.group(1), match.group(2).strip() or None


def complete_model_card(options: ReleaseOptions, folder: Path) -> str:
    """Rewrite `<folder>/README.md` complete; returns the card."""
    run_info = _read_run_info(folder)
    inputs = cards.card_inputs(run_info)
    base_model = options.base_model or inputs["base_model"]
    if not cards.is_hub_id(base_model):
        raise ValueError(
            f"the base model of {folder} is {base_model!r} (from run_info.json), not a Hub id: "
            "pass --base-model <owner/name>, e.g. --base-model Qwen/Qwen3-VL-8B-Instruct"
        )
    existing = cards.read_card(folder)
    metrics = evaluation_markdown(options.eval_report) if options.eval_report else None
    if metrics is None and existing:
        metrics = existing.sections.get("Evaluation")
    if options.num_examples > 0:
        pairs = example_pairs(options.examples, options.num_examples)
        note = (
            captioner_grid(folder, pairs, options.device)
            if options.kind == "captioner"
            else editor_grid(folder, pairs, options)
        )
        grid = GRID_FILE
    else:
        grid, note = _existing_grid(existing, folder)
    card = cards.model_card(
        model_name=options.repo_id,
        kind=options.kind,
        base_model=base_model,
        datasets=options.datasets or inputs["datasets"],
        recipe_config=run_info.get("config"),
        metrics_markdown=metrics,
        example_grid=grid,
        run_info=run_info or None,
        license=options.license,
        example_note=note,
        recipe_file=inputs["recipe_file"],
        repo_id=options.repo_id,
    )
    cards.write_card(folder, card)
    return card


# -- dataset -----------------------------------------------------------------------------------------------------


def load_dataset_folder(folder: Path) -> datasets.DatasetDict:
    """The splits of a `generate` / `synthesize` output folder (`dataset/` or `data/*.parquet`) or a
    `save_to_disk` folder."""
    saved = folder / "dataset" if (folder / "dataset").is_dir() else folder
    if (saved / "dataset_dict.json").is_file() or (saved / "dataset_info.json").is_file():
        loaded = datasets.load_from_disk(str(saved))
        return loaded if isinstance(loaded, datasets.DatasetDict) else datasets.DatasetDict(train=loaded)
    files = sorted((folder / "data").glob("*.parquet"))
    if files:
        splits: dict[str, list[str]] = {}
        for path in files:
            splits.setdefault(path.stem.split("-")[0], []).append(str(path))
        return datasets.DatasetDict({split: datasets.Dataset.from_parquet(paths) for split, paths in splits.items()})
    raise FileNotFoundError(
        f"{folder} holds no dataset: expected dataset/ (save_to_disk, as `generate` and `synthesize` write), "
        "data/<split>*.parquet, or a save_to_disk folder"
    )


def write_parquet_splits(dataset: datasets.DatasetDict, folder: Path) -> list[Path]:
    """`data/<split>-NNNNN-of-NNNNN.parquet` (the Hub's split layout), images embedded as bytes."""
    from datasets.table import embed_table_storage

    paths = []
    for split, part in dataset.items():
        shards = max(1, -(-part.data.nbytes // PARQUET_SHARD_BYTES))
        for index in range(shards):
            shard = part.shard(shards, index, contiguous=True).with_format("arrow")
            shard = shard.map(embed_table_storage, batched=True, batch_size=256, keep_in_memory=True)
            path = folder / "data" / f"{split}-{index:05d}-of-{shards:05d}.parquet"
            path.parent.mkdir(parents=True, exist_ok=True)
            shard.to_parquet(str(path))
            paths.append(path)
    return paths


def dataset_counts(dataset: datasets.DatasetDict) -> dict[str, int]:
    """Rows per split and label value, for the card ("train: edit_type=move")."""
    counts = {}
    for split, part in dataset.items():
        for column in COUNTED_COLUMNS:
            if column in part.column_names:
                for value, count in sorted(Counter(part[column]).items(), key=lambda item: str(item[0])):
                    counts[f"{split}: {column}={value}"] = count
    return counts


def provenance(existing: cards.CardText | None, run_info: dict[str, Any]) -> str:
    """The card's provenance: what the writing script said, then source data, task, backend and code version."""
    config = run_info.get("config") or {}
    data, synthesis, backend = (config.get(key) or {} for key in ("data", "synthesis", "backend"))
    lines = []
    if existing and existing.sections.get("Provenance"):
        lines.append(re.sub(r"\n*Prompt version: `[^`]*`", "", existing.sections["Provenance"]).strip())
    source = data.get("dataset_name") or data.get("dataset_preset")
    facts = {
        "source dataset": source and f"`{source}`",
        "synthesis task": synthesis.get("task") and f"`{synthesis['task']}`",
        "backend": backend.get("backend") and f"`{backend['backend']}`, model `{backend.get('model')}`",
        "generator": "num_pairs" in config and f"`edit_handbook.data.synthetic`, seed {config.get('seed')}",
        "code": run_info.get("git_sha") and f"edit-handbook `{run_info['git_sha']}`",
        "created": run_info.get("created"),
        "command": run_info.get("command") and f"`{run_info['command']}`",
    }
    lines += [f"- {name}: {value}" for name, value in facts.items() if value]
    return "\n".join(lines) or "(not recorded)"


def _prompt_version(dataset: datasets.DatasetDict, existing: cards.CardText | None, run_info: dict) -> str | None:
    versions = sorted(
        {v for part in dataset.values() if "prompt_version" in part.column_names for v in part["prompt_version"]}
    )
    if versions:
        return ", ".join(str(v) for v in versions if v)
    if run_info.get("prompt_version"):
        return run_info["prompt_version"]
    found = re.search(r"Prompt version: `([^`]*)`", existing.sections.get("Provenance", "")) if existing else None
    return found.group(1) if found else None


def check_no_outside_images(dataset: datasets.DatasetDict, folder: Path) -> None:
    """Refuse to publish a dataset whose images are paths to files outside `folder`: embedding them in the
    Parquet upload would publish files the user never meant to (`/etc/...`, a home folder)."""
    root = str(folder.resolve())
    for split, part in dataset.items():
        undecoded = part
        for column in schema.IMAGE_COLUMNS:
            if column in part.column_names and isinstance(part.features[column], datasets.Image):
                undecoded = undecoded.cast_column(column, datasets.Image(decode=False))
        problems = outside_paths(undecoded, root)
        if problems:
            row = min(problems)
            raise ValueError(
                f"{split} row {row}: {problems[row].reason} ({len(problems)} such rows); push dataset uploads only "
                "files inside the dataset folder: copy the images into it (or save the dataset with the images "
                "embedded) and push again"
            )


def prepare_dataset(options: ReleaseOptions, folder: Path) -> Path:
    """Write the upload folder (Parquet splits, grid, run_info, card) and the same card into `folder`."""
    dataset = load_dataset_folder(folder)
    check_no_outside_images(dataset, folder)
    run_info = _read_run_info(folder)
    existing = cards.read_card(folder)
    staging = Path(options.staging_dir) if options.staging_dir else folder / DATASET_STAGING
    if staging.exists():
        shutil.rmtree(staging)
    write_parquet_splits(dataset, staging)
    first = next((part for part in dataset.values() if len(part)), None)
    grid = None
    if options.num_examples > 0 and first is not None and set(schema.REQUIRED_EDIT_COLUMNS) <= set(first.column_names):
        task = ((run_info.get("config") or {}).get("synthesis") or {}).get("task")
        text = schema.RECTIFIED if task == "rectify" and schema.RECTIFIED in first.column_names else schema.INSTRUCTION
        rows = [first[index] for index in range(min(options.num_examples, len(first)))]
        example_grid([{**row, schema.INSTRUCTION: row[text] or ""} for row in rows], folder / GRID_FILE)
        shutil.copyfile(folder / GRID_FILE, staging / GRID_FILE)
        grid = GRID_FILE
    features = first.features if first is not None else next(iter(dataset.values())).features
    card = cards.dataset_card(
        name=(existing.title if existing and existing.title else options.repo_id),
        description=(existing.intro if existing and existing.intro else "Edit pairs published with edit-handbook."),
        columns={name: schema.describe_feature(feature) for name, feature in features.items()},
        num_rows={split: len(part) for split, part in dataset.items()},
        provenance=provenance(existing, run_info),
        prompt_version=_prompt_version(dataset, existing, run_info),
        counts=dataset_counts(dataset),
        example_grid=grid,
        run_info=run_info or None,
        license=options.license,
    )
    cards.write_card(folder, card)
    cards.write_card(staging, card)
    if run_info:
        shutil.copyfile(folder / "run_info.json", staging / "run_info.json")
    return staging
