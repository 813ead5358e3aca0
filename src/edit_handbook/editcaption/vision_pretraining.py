"""Stage 0 of the captioner that sees: pre-train the vision tower to encode every object in its image tokens.

A real Qwen3-VL gets its vision tower pretrained (SigLIP-2) before any captioning, so shape is already in the image
tokens. The tiny tower trained from scratch does not get it there through the language model: in the captioner
trained by describe + caption alone, a linear probe reads an object's shape from its merged token 33% of the time
(25% untrained, chance 20%), and its captions name the edited object's shape at chance. Trained directly, with one
linear head per attribute on every merged token whose cell holds an object's centre, the same tower reads shape at
86% on fresh scenes after 4,000 steps (under 5 minutes on 2 cores). The heads are then dropped and the tower goes
back into the VLM, so the captioner stays the real architecture. Measurements: recipes/editcaption/tiny-see/README.md.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn
from transformers import TrainerCallback

from edit_handbook.data.synthetic import EDIT_TYPES, pair_scenes
from edit_handbook.data.synthetic.scene import Scene, placement, render
from edit_handbook.data.synthetic.vocabulary import COLOURS, HEADINGS, PATTERNS, SHAPES, SIZES


# What each merged token is taught to name, about the object whose centre lies in its cell. Heading (which way an
# arrow points) is labelled on arrows only: mirror and rotate edits change nothing else.
ATTRIBUTES: dict[str, tuple[str, ...]] = {
    "shape": tuple(SHAPES),
    "colour": tuple(COLOURS),
    "size": tuple(SIZES),
    "pattern": tuple(PATTERNS),
    "heading": tuple(HEADINGS),
}
ONLY_FOR = {"heading": "arrow"}  # attribute -> the one shape it is labelled on
IGNORE = -100  # cells with no object centre (or two), headings of non-arrows: no loss, as in transformers' labels


def token_labels(scene: Scene, image_size: int, grid: tuple[int, int]) -> torch.Tensor:
    """(attributes, cells) class indices, row-major over the `grid` of merged tokens; IGNORE where no object
    centre is drawn in a cell, or where two are (the token could mean either), and for an attribute the cell's
    object does not show (`ONLY_FOR`)."""
    rows, columns = grid
    labels = torch.full((len(ATTRIBUTES), rows * columns), IGNORE)
    seen: set[int] = set()
    for obj in scene.objects:
        x, y, _ = placement(obj, scene.camera, image_size)
        if not (0 <= x < image_size and 0 <= y < image_size):
            continue  # centre out of frame (a camera edit): the token shows at most an edge of it
        cell = int(y * rows / image_size) * columns + int(x * columns / image_size)
        if cell in seen:
            labels[:, cell] = IGNORE
            continue
        seen.add(cell)
        for k, (name, values) in enumerate(ATTRIBUTES.items()):
            if ONLY_FOR.get(name, obj.shape) == obj.shape:
                labels[k, cell] = values.index(getattr(obj, name))
    return labels


class SceneImages(torch.utils.data.Dataset):
    """Both images of synthetic pairs `0 .. num_pairs - 1` (the describe stage's images for the same seed and edit
    types), rendered on access, with their token labels."""

    def __init__(
        self, num_pairs: int, *, seed: int, image_size: int, grid: tuple[int, int], edit_types: Sequence[str] = ()
    ):
        self.num_pairs, self.seed, self.image_size, self.grid = num_pairs, seed, image_size, grid
        self.edit_types = tuple(edit_types or EDIT_TYPES)
        unknown = sorted(set(self.edit_types) - set(EDIT_TYPES))
        if unknown:
            raise ValueError(f"scene_edit_types: unknown {unknown}; choose from {', '.join(EDIT_TYPES)}")

    def __len__(self) -> int:
        return 2 * self.num_pairs

    def __getitem__(self, index: int) -> dict:
        _, source, target, _ = pair_scenes(index // 2, seed=self.seed, edit_types=self.edit_types)
        scene = target if index % 2 else source
        return {"image": render(scene, self.image_size), "labels": token_labels(scene, self.image_size, self.grid)}


class TokenLabelCollator:
    """Images through the VLM's own image processor (its normalisation, patching and resizing), labels stacked."""

    def __init__(self, image_processor):
        self.image_processor = image_processor

    def __call__(self, rows: list[dict]) -> dict[str, torch.Tensor]:
        batch = self.image_processor(images=[row["image"] for row in rows], return_tensors="pt")
        return {
            "pixel_values": batch["pixel_values"],
            "image_grid_thw": batch["image_grid_thw"],
            "labels": torch.stack([row["labels"] for row in rows]),
        }


def merged_grid(image_processor, image_size: int) -> tuple[int, int]:
    """(rows, columns) of merged tokens the processor makes of an `image_size` square image."""
    from PIL import Image

    thw = image_processor(images=[Image.new("RGB", (image_size, image_size))], return_tensors="pt")["image_grid_thw"]
    merge = image_processor.merge_size
    return int(thw[0, 1]) // merge, int(thw[0, 2]) // merge


class VisionTowerHeads(nn.Module):
    """The VLM's vision tower (trained in place) and one linear head per attribute on its merged tokens."""

    def __init__(self, vision_tower: nn.Module, hidden_size: int):
        super().__init__()
        self.vision_tower = vision_tower
        self.heads = nn.ModuleDict({name: nn.Linear(hidden_size, len(values)) for name, values in ATTRIBUTES.items()})

    def forward(self, pixel_values, image_grid_thw, labels=None) -> dict[str, torch.Tensor]:
        tokens = self.vision_tower(pixel_values, grid_thw=image_grid_thw).pooler_output
        tokens = tokens.view(len(image_grid_thw), -1, tokens.shape[-1])  # (images, cells, hidden): one image size
        logits = {name: head(tokens) for name, head in self.heads.items()}
        output = {"logits": logits}
        if labels is not None:
            # An attribute with no labelled token in the batch (no arrow drawn) adds nothing, not a NaN mean.
            output["loss"] = sum(
                nn.functional.cross_entropy(logits[name].flatten(0, 1), labels[:, k].flatten(), ignore_index=IGNORE)
                for k, name in enumerate(ATTRIBUTES)
                if (labels[:, k] != IGNORE).any()
            )
        return output


@torch.no_grad()
def token_accuracy(model: VisionTowerHeads, images: SceneImages, collator, batch_size: int = 64) -> dict[str, float]:
    """Per attribute, the share of labelled tokens whose head names it right."""
    was_training = model.training
    model.eval()
    hits, totals = torch.zeros(len(ATTRIBUTES)), torch.zeros(len(ATTRIBUTES))
    device = next(model.parameters()).device
    for start in range(0, len(images), batch_size):
        batch = collator([images[i] for i in range(start, min(start + batch_size, len(images)))])
        labels = batch.pop("labels").to(device)
        logits = model(**{key: value.to(device) for key, value in batch.items()})["logits"]
        for k, name in enumerate(ATTRIBUTES):
            mask = labels[:, k] != IGNORE
            hits[k] += (logits[name].argmax(-1)[mask] == labels[:, k][mask]).sum().item()
            totals[k] += int(mask.sum())
    model.train(was_training)
    return {name: hits[k].item() / max(totals[k].item(), 1) for k, name in enumerate(ATTRIBUTES)}


class HeldOutTokenAccuracy(TrainerCallback):
    """Every `every` steps (and at the end), per-attribute token accuracy on fresh validation scenes, logged."""

    def __init__(self, model: VisionTowerHeads, images: SceneImages, collator, every: int):
        self.model, self.images, self.collator, self.every = model, images, collator, every
        self.history: list[dict] = []

    def _measure(self, state) -> None:
        scores = token_accuracy(self.model, self.images, self.collator)
        self.history.append({"step": state.global_step, **scores})
        print(
            f"step {state.global_step}: held-out token accuracy "
            + ", ".join(f"{k} {v:.1%}" for k, v in scores.items()),
            flush=True,
        )

    def on_step_end(self, args, state, control, **kwargs):
        if self.every and state.global_step % self.every == 0:
            self._measure(state)

    def on_train_end(self, args, state, control, **kwargs):
        if not self.history or self.history[-1]["step"] != state.global_step:
            self._measure(state)
