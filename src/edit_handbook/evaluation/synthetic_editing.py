"""The synthetic editing suite: an editor edits fresh synthetic pairs, and its pixels are scored exactly.

    from edit_handbook.evaluation.synthetic_editing import evaluate_synthetic_editing

    result = evaluate_synthetic_editing(editor, output_dir, settings=SyntheticEditingArguments())

`editor` is an InstructPix2Pix pipeline, a folder / Hub id, or a baseline: `baseline:copy` (returns the source)
or `baseline:target` (returns the exact target: the ceiling, which must score 100%). The pairs come from the
embedded generator with a seed of their own (default 1000, never a training seed of the recipes), the same
number per edit type; each is edited at `image_size` with a generator seeded by `seed` (one per edit), the
stated number of steps and guidance, and scored by `pixel_edits.score_edit` (its docstring defines
correctness). A pair whose own target fails the reading (an occlusion the reading cannot see through, about
1% of moves) is left out and counted in `meta["unreadable_pairs"]`.

With `wrong_instructions`, each recolour is also edited under a wrong instruction that names the same object
and another colour (neither its own nor the requested one), and `wrong_followed` records whether the fill
reads that wrong colour: an editor that follows its instructions does what the wrong one says.
Metrics (bootstrap intervals, overall and per edit type): `accuracy` (change and preservation), `change_rate`,
`preservation_rate`, `preservation_error`, `image_error`, and `wrong_following_rate` when measured.
"""

from __future__ import annotations

import random
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image

from edit_handbook.data.synthetic import pair_scenes
from edit_handbook.data.synthetic.language import rectified_description, reference_instruction
from edit_handbook.data.synthetic.scene import Scene, render
from edit_handbook.data.synthetic.vocabulary import COLOURS
from edit_handbook.evaluation.item_images import IMAGES_FOLDER
from edit_handbook.evaluation.pixel_edits import (
    PALETTE_NAMES,
    SCORED_EDIT_TYPES,
    classify_pixels,
    fill_pixels,
    score_edit,
)
from edit_handbook.evaluation.results import SuiteResult
from edit_handbook.evaluation.stats import estimate


SUITE = "synthetic_editing"
BASELINES = ("baseline:copy", "baseline:target")
INSTRUCTIONS: dict[str, Callable[[dict], str]] = {
    "instruction": reference_instruction,
    "rectified_instruction": rectified_description,
}
NOTE = (
    "Pixel-exact scoring on fresh synthetic pairs (edit_handbook.evaluation.pixel_edits): an edit is correct when "
    "the named object got the named change, read from the pixels, and the error outside the edited region is under "
    "the threshold. No judge."
)
Editor = Any  # a StableDiffusionInstructPix2PixPipeline, a folder / Hub id, or one of BASELINES


@dataclass(frozen=True)
class EditCase:
    """One pair to edit, with the truth the scoring needs."""

    id: str
    source_scene: Scene
    target_scene: Scene
    spec: dict
    instruction: str
    wrong_instruction: str | None  # recolour only: same object, another colour
    wrong_colour: str | None


def wrong_recolour(spec: dict, source: Scene, rng: random.Random) -> tuple[str, str]:
    """A recolour instruction for the same object with a colour that is neither its own nor the asked one."""
    own = spec["object"]["colour"]
    taken = {o.colour for o in source.objects if o.shape == spec["object"]["shape"]}
    colour = rng.choice([c for c in COLOURS if c not in {own, spec["colour"]} | taken] or [spec["colour"]])
    return reference_instruction({**spec, "colour": colour}), colour


def editing_cases(
    pairs_per_type: int,
    *,
    seed: int,
    edit_types: Sequence[str] = SCORED_EDIT_TYPES,
    instruction_column: str = "instruction",
) -> list[EditCase]:
    """`pairs_per_type` pairs of each type, rows 0.. of the generator with `seed` (types cycle by row)."""
    unknown = sorted(set(edit_types) - set(SCORED_EDIT_TYPES))
    if unknown:
        raise ValueError(f"edit types {unknown} have no pixel reading; choose from {', '.join(SCORED_EDIT_TYPES)}")
    if instruction_column not in INSTRUCTIONS:
        raise ValueError(f"instruction_column must be one of {', '.join(INSTRUCTIONS)}, got {instruction_column!r}")
    cases = []
    for index in range(pairs_per_type * len(edit_types)):
        rng, source, target, spec = pair_scenes(index, seed=seed, edit_types=tuple(edit_types))
        wrong, colour = wrong_recolour(spec, source, rng) if spec["type"] == "recolour" else (None, None)
        cases.append(
            EditCase(
                f"edit-{seed}-{index:05d}", source, target, spec, INSTRUCTIONS[instruction_column](spec), wrong, colour
            )
        )
    return cases


def _pipeline(editor: Editor, scheduler: str):
    from edit_handbook.superedit.model import load_editor

    if isinstance(editor, (str, Path)):
        editor = load_editor(str(editor)).to("cuda" if torch.cuda.is_available() else "cpu")
    components = dict(editor.components)
    if scheduler == "euler_ancestral":
        from diffusers import EulerAncestralDiscreteScheduler

        components["scheduler"] = EulerAncestralDiscreteScheduler.from_config(editor.scheduler.config)
    pipeline = type(editor)(**components, requires_safety_checker=False)
    pipeline.set_progress_bar_config(disable=True)
    return pipeline


def edit_images(
    editor: Editor,
    sources: Sequence[Image.Image],
    instructions: Sequence[str],
    *,
    targets: Sequence[Image.Image] | None = None,
    steps: int,
    guidance_scale: float,
    image_guidance_scale: float,
    seed: int,
    batch_size: int,
    scheduler: str = "pipeline",
) -> list[Image.Image]:
    """The editor's outputs, one generator seeded with `seed` per edit (an edit does not depend on its batch)."""
    if editor == "baseline:copy":
        return [image.copy() for image in sources]
    if editor == "baseline:target":
        if targets is None:
            raise ValueError("baseline:target needs the targets")
        return [image.copy() for image in targets]
    if isinstance(editor, str) and editor.startswith("baseline:"):
        raise ValueError(f"unknown baseline {editor!r}; choose from {', '.join(BASELINES)}")
    pipeline = _pipeline(editor, scheduler)
    outputs: list[Image.Image] = []
    for start in range(0, len(sources), batch_size):
        batch = slice(start, start + batch_size)
        generators = [torch.Generator(pipeline.device).manual_seed(seed) for _ in sources[batch]]
        with torch.inference_mode():
            outputs += pipeline(
                list(instructions[batch]),
                image=list(sources[batch]),
                num_inference_steps=steps,
                guidance_scale=guidance_scale,
                image_guidance_scale=image_guidance_scale,
                generator=generators,
            ).images
    return outputs


def _as_array(image: Image.Image, size: int) -> np.ndarray:
    image = image.convert("RGB")
    if image.size != (size, size):
        image = image.resize((size, size), Image.Resampling.BICUBIC)
    return np.asarray(image)


def _save(image: Image.Image, folder: Path, stem: str, name: str) -> str:
    relative = f"{IMAGES_FOLDER}/{re.sub(r'[^A-Za-z0-9._-]', '_', stem)}_{name}.png"
    image.save(folder / relative)
    return relative


def evaluate_synthetic_editing(
    editor: Editor,
    output_dir: str | Path,
    *,
    pairs_per_type: int = 50,
    edit_types: Sequence[str] = SCORED_EDIT_TYPES,
    pair_seed: int = 1000,
    image_size: int = 32,
    instruction_column: str = "instruction",
    threshold: float = 0.04,
    steps: int = 20,
    guidance_scale: float = 3.0,
    image_guidance_scale: float = 1.5,
    sampling_seed: int = 42,
    batch_size: int = 32,
    scheduler: str = "pipeline",
    wrong_instructions: bool = True,
    system: str | None = None,
    **stats: Any,
) -> SuiteResult:
    """Edit `pairs_per_type` fresh pairs of each type and score them (module docstring); saves result.json."""
    output_dir = Path(output_dir)
    (output_dir / IMAGES_FOLDER).mkdir(parents=True, exist_ok=True)
    cases = editing_cases(pairs_per_type, seed=pair_seed, edit_types=edit_types, instruction_column=instruction_column)
    sources = [render(case.source_scene, image_size) for case in cases]
    targets = [render(case.target_scene, image_size) for case in cases]
    sampling = {
        "steps": steps, "guidance_scale": guidance_scale, "image_guidance_scale": image_guidance_scale,
        "seed": sampling_seed, "batch_size": batch_size, "scheduler": scheduler,
    }  # fmt: skip
    outputs = edit_images(editor, sources, [case.instruction for case in cases], targets=targets, **sampling)
    wrong_cases = [i for i, case in enumerate(cases) if wrong_instructions and case.wrong_instruction]
    wrong_outputs = dict(
        zip(
            wrong_cases,
            edit_images(
                editor,
                [sources[i] for i in wrong_cases],
                [cases[i].wrong_instruction for i in wrong_cases],
                targets=[targets[i] for i in wrong_cases],
                **sampling,
            ),
        )
    )
    items, unreadable = [], 0
    for i, case in enumerate(cases):
        truth = np.asarray(targets[i])
        if not score_edit(case.source_scene, case.target_scene, case.spec, truth, threshold=threshold).correct:
            unreadable += 1
            continue
        score = score_edit(
            case.source_scene, case.target_scene, case.spec, _as_array(outputs[i], image_size), threshold=threshold
        )
        item = {
            "id": case.id,
            "edit_type": case.spec["type"],
            "instruction": case.instruction,
            **score.to_dict(),
            "image_similarity": 1.0 - score.image_error,
            "images": {
                "source": _save(sources[i], output_dir, case.id, "source"),
                "edit": _save(outputs[i], output_dir, case.id, "edit"),
                "target": _save(targets[i], output_dir, case.id, "target"),
            },
        }
        if i in wrong_outputs:
            target = case.target_scene
            fill = fill_pixels(target, target.find(case.spec["colour"], case.spec["object"]["shape"]), image_size)
            classes = classify_pixels(_as_array(wrong_outputs[i], image_size))[fill]
            share = float((classes == PALETTE_NAMES.index(case.wrong_colour)).mean()) if fill.any() else 0.0
            item.update(wrong_instruction=case.wrong_instruction, wrong_followed=share >= 0.5)
            item["images"]["wrong_edit"] = _save(wrong_outputs[i], output_dir, case.id, "wrong_edit")
        items.append(item)
    metrics, groups = editing_metrics(items, **stats)
    meta = {
        "note": NOTE,
        "editor": str(editor) if isinstance(editor, (str, Path)) else type(editor).__name__,
        "pairs_per_type": pairs_per_type,
        "pair_seed": pair_seed,
        "image_size": image_size,
        "instruction_column": instruction_column,
        "preservation_threshold": threshold,
        "sampling": sampling,
        "unreadable_pairs": unreadable,
        "image_root": str(output_dir.resolve()),
        "item_metrics": ["correct", "changed", "preserved", "image_error"],
    }
    name = system or (str(editor) if isinstance(editor, (str, Path)) else type(editor).__name__)
    result = SuiteResult(SUITE, name, metrics, groups, items, meta, rank_key="image_similarity")
    result.save(output_dir / "result.json")
    return result


def editing_metrics(items: Sequence[dict], **stats: Any):
    """The module docstring's metrics over scored items, overall and per edit type."""

    def aggregate(rows: Sequence[dict]) -> dict:
        metrics = {
            "accuracy": estimate([row["correct"] for row in rows], **stats),
            "change_rate": estimate([row["changed"] for row in rows], **stats),
            "preservation_rate": estimate([row["preserved"] for row in rows], **stats),
            "preservation_error": estimate([row["preservation_error"] for row in rows], **stats),
            "image_error": estimate([row["image_error"] for row in rows], **stats),
        }
        followed = [row["wrong_followed"] for row in rows if "wrong_followed" in row]
        if followed:
            metrics["wrong_following_rate"] = estimate(followed, **stats)
        return metrics

    types = list(dict.fromkeys(item["edit_type"] for item in items))
    return aggregate(items), {
        "edit_type": {kind: aggregate([i for i in items if i["edit_type"] == kind]) for kind in types}
    }
