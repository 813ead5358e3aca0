"""Editing quality of an InstructPix2Pix editor on Real-Edit: edit every photo, judge the edits, measure them.

The entry point, for the `evaluate` script and the demo:

    from edit_handbook.evaluation.editing import evaluate_editor

    result = evaluate_editor(
        editor,          # a StableDiffusionInstructPix2PixPipeline, or a Hub id / folder / "tiny:instruct-pix2pix"
        bench,           # a Real-Edit folder (eval_instruct.json + imgs/), or a list of `RealEditItem`s
        judge_backend,   # any synth backend (LocalBackend, HTTPBackend, ...), or None for metrics only
        output_dir,      # edits/, sources/, judge_cache/ and result.json are written here
        settings=EditingEvaluationArguments(),  # evaluation/configs.py: inference (paper defaults), judge and metric settings
        metrics=None,    # metric names; None: settings.edit_metrics; []: no metrics
        judge_cache_dir=None,  # default <output_dir>/judge_cache; share one folder between suites if you like
        system=None,     # the editor's name in the result; default its Hub id / folder
        progress=True,   # progress bars
    )  # -> SuiteResult(suite="real_edit"), also saved as <output_dir>/result.json

From a parsed config: `evaluate_editor(args.editor_model, args.real_edit_dir, backend, out, settings=args)`.
The result's `metrics` (and `groups["edit_type"][<type>]`) hold `<d>_yes`, `<d>_score` and `<d>_unusable`
(the rate of unusable answers) for d in following / preserving / quality when judged, plus each automatic
metric computed; each item records id, key, edit_type, instruction, `images` (absolute paths of the source
copy under `sources/` and the edit; the target where there is one), `<d>_yes/_score/_reason/_error/_unusable`,
`judge_score` (mean of its usable scores; the `rank_key`, else clip_t / clip_i without a judge) and its metric
values. `meta` has the note, the settings stamp, judge and metric details (skipped metrics with the reason).

Resolution: by default each photo is edited at its own size (the pipeline rounds each side down to a multiple
of 8), as the release does; `edit_resolution` resizes its shorter side first. The edit is saved as made.

The protocol (docs/method.md, SuperEdit's release): Euler Ancestral, 50 steps, text guidance 10, image guidance 1.5,
seed 42; three separate judge questions (Following and Preserving see source, edit and instruction; Quality
sees the edit only), each a yes/no and a 0-5 score, reported as yes-rate and mean score, overall and per edit
type. The judge sees both images resized to 512 px high with the source's aspect, as in the release.
Deviations, all deliberate: each edit has its own generator seeded with 42 (the release draws every edit
from one generator in sequence, so an edit there depends on the ones before it); the judge prompts are this
project's own (`synth.prompts.REAL_EDIT_QUESTIONS`); an unusable judge answer is counted as unusable, not
dropped silently. So the numbers follow the Real-Edit protocol, not the release's exact prompts.

Resumable: each edit is written atomically to `edits/<photo>_<type>.png` and reused by a rerun with the same
settings (a stamp in `edits/settings.json` refuses a rerun with other settings unless `edit_overwrite`); judge
replies are cached on disk (`judge_cache.CachedBackend`), so a finished run repeated costs no edit and no
judge call, and a killed one picks up where it stopped.
"""

from __future__ import annotations

import json
import logging
import shutil
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch
from PIL import Image
from tqdm.auto import tqdm

from edit_handbook.data.writer import write_file_atomically
from edit_handbook.evaluation.configs import EditingEvaluationArguments
from edit_handbook.evaluation.judge_cache import CachedBackend
from edit_handbook.evaluation.metrics import MetricModels, compute_edit_metrics
from edit_handbook.evaluation.metrics.compute import check_metric_names
from edit_handbook.evaluation.metrics.encoders import (
    DEFAULT_CLIP_MODEL,
    DEFAULT_DINO_MODEL,
    clip_encoder,
    dino_encoder,
)
from edit_handbook.evaluation.real_edit import RealEditItem, read_real_edit
from edit_handbook.evaluation.results import SuiteResult
from edit_handbook.evaluation.stats import estimate
from edit_handbook.synth.backends import Backend
from edit_handbook.synth.judge import Judge, Verdict
from edit_handbook.synth.prompts import REAL_EDIT_QUESTIONS


logger = logging.getLogger(__name__)

SUITE = "real_edit"
NOTE = (
    "Editing quality following the Real-Edit protocol of SuperEdit (arXiv 2505.02370): its photos, edit types and "
    "inference settings, three separate judge questions with yes/no and 0-5 scores. The judge prompts are this "
    "project's own, not the release's exact prompts, and each edit has its own seeded generator: compare numbers "
    "with runs of this suite, not with the paper's table."
)
# Items per judge / metric round: bounds the images held in memory, large enough to batch well.
CHUNK_SIZE = 64


def edit_input(image: Image.Image, resolution: int | None) -> Image.Image:
    """The photo as the editor gets it: RGB, its shorter side resized to `resolution` (None: unchanged)."""
    image = image.convert("RGB")
    if resolution is None:
        return image
    scale = resolution / min(image.size)
    size = (max(1, round(image.width * scale)), max(1, round(image.height * scale)))
    return image if size == image.size else image.resize(size, Image.Resampling.BICUBIC)


def judge_view(image: Image.Image, aspect_of: Image.Image, height: int) -> Image.Image:
    """`image` at `height` px high with the width `aspect_of`'s aspect gives it (the release's judge input)."""
    width = max(1, int(height * aspect_of.width / aspect_of.height))
    image = image.convert("RGB")
    return image if image.size == (width, height) else image.resize((width, height), Image.Resampling.BICUBIC)


def editor_name(editor: Any) -> str:
    if isinstance(editor, (str, Path)):
        return str(editor)
    return str(
        getattr(editor, "name_or_path", "") or getattr(editor.config, "_name_or_path", "") or type(editor).__name__
    )


def edit_settings_stamp(editor: str, settings: EditingEvaluationArguments) -> dict[str, Any]:
    """What decides an edit's pixels; a rerun with a different stamp must not reuse the edits."""
    return {
        "editor": editor,
        "scheduler": settings.edit_scheduler,
        "num_inference_steps": settings.edit_num_inference_steps,
        "guidance_scale": settings.edit_guidance_scale,
        "image_guidance_scale": settings.edit_image_guidance_scale,
        "seed": settings.edit_seed,
        "resolution": settings.edit_resolution,
        "dtype": settings.edit_dtype,
    }


def _prepare_edits_folder(folder: Path, stamp: dict[str, Any], overwrite: bool) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    stamp_file = folder / "settings.json"
    if stamp_file.is_file() and not overwrite:
        stored = json.loads(stamp_file.read_text())
        differing = {key: (stored.get(key), value) for key, value in stamp.items() if stored.get(key) != value}
        if differing:
            raise ValueError(
                f"The edits in {folder} were made with other settings (stored, now): {differing}. Use another "
                "output_dir, or set edit_overwrite to redo them."
            )
    if overwrite:
        for path in folder.glob("*.png"):
            path.unlink()
    stamp_file.write_text(json.dumps(stamp, indent=2, sort_keys=True) + "\n")


def editing_pipeline(editor: Any, settings: EditingEvaluationArguments):
    """The pipeline to edit with: loaded by name if needed, with the protocol's sampler, no inner progress bar.

    A pipeline that is passed in is not modified: a new pipeline object shares its modules.
    """
    from edit_handbook.models.editor import editing_pipeline as ready
    from edit_handbook.models.editor import load_editing_pipeline

    if isinstance(editor, (str, Path)):
        return load_editing_pipeline(editor, dtype=settings.edit_dtype, scheduler=settings.edit_scheduler)
    return ready(editor, scheduler=settings.edit_scheduler)


def make_edits(
    editor: Any,
    items: Sequence[RealEditItem],
    folder: str | Path,
    settings: EditingEvaluationArguments,
    *,
    progress: bool = True,
) -> tuple[list[Path], int]:
    """Each item's edit as `folder/<id>.png`, making only the missing ones; (paths, number made now).

    The editor is loaded only when an edit is missing. Photos of the same size are batched.
    """
    folder = Path(folder)
    _prepare_edits_folder(folder, edit_settings_stamp(editor_name(editor), settings), settings.edit_overwrite)
    paths = [folder / f"{item.id}.png" for item in items]
    pending = [i for i, path in enumerate(paths) if not path.is_file()]
    if not pending:
        return paths, 0
    pipeline = editing_pipeline(editor, settings)
    inputs = {}
    for i in pending:  # each photo is read once, however many edits it has
        key = items[i].image_path
        if key not in inputs:
            with Image.open(key) as photo:
                inputs[key] = edit_input(photo, settings.edit_resolution)
    by_size: dict[tuple[int, int], list[int]] = {}
    for i in pending:
        by_size.setdefault(inputs[items[i].image_path].size, []).append(i)
    batches = [
        group[start : start + settings.edit_batch_size]
        for group in by_size.values()
        for start in range(0, len(group), settings.edit_batch_size)
    ]
    with tqdm(total=len(pending), desc="editing", unit="edit", disable=not progress) as bar:
        for batch in batches:
            generators = [
                torch.Generator(pipeline.device).manual_seed(settings.edit_seed) for _ in batch
            ]  # one per edit: an edit does not depend on its batch or on the edits before it
            with torch.inference_mode():
                edited = pipeline(
                    [items[i].instruction for i in batch],
                    image=[inputs[items[i].image_path] for i in batch],
                    num_inference_steps=settings.edit_num_inference_steps,
                    guidance_scale=settings.edit_guidance_scale,
                    image_guidance_scale=settings.edit_image_guidance_scale,
                    generator=generators,
                ).images
            for i, image in zip(batch, edited, strict=True):
                write_file_atomically(paths[i], lambda file, image=image: image.save(file, format="PNG"))
            bar.update(len(batch))
    return paths, len(pending)


def photo_chunks(items: Sequence[RealEditItem], size: int = CHUNK_SIZE) -> list[list[int]]:
    """Consecutive index runs of about `size` items, cut between photos so a photo is loaded once."""
    chunks: list[list[int]] = [[]]
    for i, item in enumerate(items):
        if len(chunks[-1]) >= size and item.key != items[i - 1].key:
            chunks.append([])
        chunks[-1].append(i)
    return [chunk for chunk in chunks if chunk]


def _load(paths: Sequence[Path]) -> list[Image.Image]:
    """RGB copies of the images, one object per distinct path (the metrics embed each object once)."""
    loaded: dict[Path, Image.Image] = {}
    for path in paths:
        if path not in loaded:
            with Image.open(path) as image:
                loaded[path] = image.convert("RGB")
    return [loaded[path] for path in paths]


def judge_edits(
    backend: Backend,
    items: Sequence[RealEditItem],
    edit_paths: Sequence[Path],
    settings: EditingEvaluationArguments,
    *,
    progress: bool = True,
) -> dict[str, list[Verdict]]:
    """One verdict per item for each of Following, Preserving and Quality (unusable answers carry `error`)."""
    judges = {
        dimension: Judge(backend, question, settings.edit_judge_max_new_tokens)
        for dimension, question in REAL_EDIT_QUESTIONS.items()
    }
    verdicts: dict[str, list[Verdict]] = {dimension: [] for dimension in judges}
    for chunk in tqdm(photo_chunks(items), desc="judging", unit="chunk", disable=not progress):
        sources = _load([items[i].image_path for i in chunk])
        views = [
            {
                "source": judge_view(source, source, settings.edit_judge_resolution),
                "edit": judge_view(edit, source, settings.edit_judge_resolution),
            }
            for source, edit in zip(sources, _load([edit_paths[i] for i in chunk]))
        ]
        instructions = [items[i].instruction for i in chunk]
        for dimension, judge in judges.items():
            verdicts[dimension] += judge(views, instructions)
    return verdicts


def measure_edits(
    names: Sequence[str],
    items: Sequence[RealEditItem],
    edit_paths: Sequence[Path],
    models: MetricModels,
    *,
    progress: bool = True,
) -> tuple[dict[str, list[float | None]], dict[str, str]]:
    """Per-item metric values, and the metrics skipped because their model could not be loaded (with why)."""
    skipped: dict[str, str] = {}
    usable = list(names)
    for family, model, members in (
        ("CLIP", models.clip_model, ("clip_i", "clip_t", "clip_directional")),
        ("DINO", models.dino_model, ("dino_similarity",)),
    ):
        wanted = [name for name in usable if name in members]
        if not wanted:
            continue
        try:  # loaded once here; compute_edit_metrics reuses the cached encoder
            (clip_encoder if family == "CLIP" else dino_encoder)(model, models.device, models.batch_size)
        except OSError as error:
            logger.warning("Skipping %s: the %s model %r cannot be loaded (%s)", wanted, family, model, error)
            skipped.update({name: f"{family} model {model!r} could not be loaded: {error}" for name in wanted})
            usable = [name for name in usable if name not in wanted]
    values: dict[str, list[float | None]] = {name: [] for name in usable}
    if not usable:
        return values, skipped
    for chunk in tqdm(photo_chunks(items), desc="measuring", unit="chunk", disable=not progress):
        chunk_items = [items[i] for i in chunk]
        targets = [item.target_path for item in chunk_items]
        target_images = iter(_load([path for path in targets if path is not None]))
        scores = compute_edit_metrics(
            usable,
            _load([item.image_path for item in chunk_items]),
            _load([edit_paths[i] for i in chunk]),
            instructions=[item.instruction for item in chunk_items],
            source_captions=[item.source_caption for item in chunk_items],
            target_captions=[item.target_caption for item in chunk_items],
            targets=[None if path is None else next(target_images) for path in targets],
            models=models,
        )
        for name in usable:
            values[name] += scores[name]
    return values, skipped


def _aggregate(records: Sequence[dict[str, Any]], fields: Sequence[str]) -> dict[str, Any]:
    return {name: estimate([record[name] for record in records]) for name in fields}


def _mean(values: Sequence[float | None]) -> float | None:
    present = [value for value in values if value is not None]
    return sum(present) / len(present) if present else None


def evaluate_editor(
    editor: Any,
    bench: str | Path | Sequence[RealEditItem],
    judge_backend: Backend | None,
    output_dir: str | Path,
    settings: EditingEvaluationArguments | None = None,
    metrics: Sequence[str] | None = None,
    *,
    judge_cache_dir: str | Path | None = None,
    system: str | None = None,
    progress: bool = True,
) -> SuiteResult:
    """Edit, judge and measure; see the module docstring for every argument."""
    settings = settings or EditingEvaluationArguments()
    names = list(settings.edit_metrics if metrics is None else metrics)
    check_metric_names(names)
    load_failures: list[str] = []
    if isinstance(bench, (str, Path)):
        loaded = read_real_edit(
            bench,
            edit_types=settings.real_edit_types,
            images=settings.real_edit_images,
            limit=settings.real_edit_max_images,
        )
        items, load_failures = loaded.items, loaded.failures
        for failure in load_failures:
            logger.warning("Real-Edit entry skipped: %s", failure)
    else:
        items = list(bench)
    if not items:
        failed = "".join(f"\n  {failure}" for failure in load_failures)
        raise ValueError(f"no edits to evaluate: the benchmark (after its filters) is empty{failed}")
    ids = [item.id for item in items]
    if len(set(ids)) != len(ids):
        raise ValueError("two items have the same id (photo + edit type); their edits would overwrite each other")
    photos: dict[str, Path] = {}
    for item in items:
        if photos.setdefault(item.key, item.image_path) != item.image_path:
            raise ValueError(f"photo key {item.key!r} names two images: {photos[item.key]} and {item.image_path}")
    output_dir = Path(output_dir)
    source_dir = output_dir / "sources"
    source_dir.mkdir(parents=True, exist_ok=True)
    source_copies = {key: source_dir / f"{Path(key).stem}{path.suffix}" for key, path in photos.items()}
    for key, copy in source_copies.items():  # the report's grids read the photos from the output folder
        if not copy.is_file():
            shutil.copyfile(photos[key], copy)

    edit_paths, made = make_edits(editor, items, output_dir / "edits", settings, progress=progress)

    records: list[dict[str, Any]] = [
        {
            "id": item.id,
            "key": item.key,
            "edit_type": item.edit_type,
            "instruction": item.instruction,
            "images": {
                "source": str(source_copies[item.key].resolve()),
                "edit": str(path.resolve()),
                **({"target": str(item.target_path.resolve())} if item.target_path is not None else {}),
            },
        }
        for item, path in zip(items, edit_paths)
    ]
    fields: list[str] = []
    meta: dict[str, Any] = {"note": NOTE, "settings": edit_settings_stamp(editor_name(editor), settings)}
    meta.update(num_items=len(items), edits_made=made, edits_reused=len(items) - made)
    if load_failures:
        meta["skipped_entries"] = load_failures
    if judge_backend is not None:
        if not isinstance(judge_backend, CachedBackend):
            judge_backend = CachedBackend(judge_backend, judge_cache_dir or output_dir / "judge_cache")
        verdicts = judge_edits(judge_backend, items, edit_paths, settings, progress=progress)
        for dimension, answers in verdicts.items():
            for record, verdict in zip(records, answers):
                record[f"{dimension}_yes"] = verdict.answer
                record[f"{dimension}_score"] = verdict.score
                record[f"{dimension}_reason"] = verdict.reason
                record[f"{dimension}_error"] = verdict.error
                record[f"{dimension}_unusable"] = not verdict.ok
            fields += [f"{dimension}_yes", f"{dimension}_score", f"{dimension}_unusable"]
        for record in records:
            record["judge_score"] = _mean([record[f"{dimension}_score"] for dimension in verdicts])
        meta["judge"] = {
            "backend": judge_backend.describe(),
            "questions": {dimension: question.name for dimension, question in REAL_EDIT_QUESTIONS.items()},
            "unusable_answers": {d: sum(not v.ok for v in answers) for d, answers in verdicts.items()},
            "backend_calls": judge_backend.backend_calls,
        }
    if names:
        models = MetricModels(
            clip_model=settings.edit_clip_model or DEFAULT_CLIP_MODEL,
            dino_model=settings.edit_dino_model or DEFAULT_DINO_MODEL,
            batch_size=settings.edit_metric_batch_size,
        )
        values, skipped = measure_edits(names, items, edit_paths, models, progress=progress)
        for name, per_item in values.items():
            for record, value in zip(records, per_item):
                record[name] = value
        fields += list(values)
        meta["metrics"] = {"clip_model": models.clip_model, "dino_model": models.dino_model, "skipped": skipped}
    groups = {
        "edit_type": {
            edit_type: _aggregate([r for r in records if r["edit_type"] == edit_type], fields)
            for edit_type in dict.fromkeys(item.edit_type for item in items)
        }
    }
    rank_key = (
        "judge_score" if judge_backend is not None else next((n for n in ("clip_t", "clip_i") if n in fields), None)
    )
    result = SuiteResult(
        suite=SUITE,
        system=system or editor_name(editor),
        metrics=_aggregate(records, fields),
        groups=groups,
        items=records,
        meta=meta,
        rank_key=rank_key,
    )
    result.save(output_dir / "result.json")
    return result
