"""The shared base of this folder's local `evaluate` modules: inputs in, `compute_edit_metrics` out.

Each module (`clip_i/clip_i.py`, ...) declares its inputs and which metrics it reports; loading by name needs
the Hub, so load them by path:

    import evaluate
    from edit_handbook.evaluation.metrics import metric_path
    clip_i = evaluate.load(metric_path("clip_i"))
    clip_i.compute(predictions=edited_images, references=source_images, model="openai/clip-vit-large-patch14")

Every module returns `{<metric>: mean over items where it is defined, "<metric>_scores": per-item values}`
(None where undefined, e.g. a cosine with a zero direction). Compute options: `model` (a Hub id or a local
folder; CLIP for the CLIP metrics, DINOv2 for DINO), `batch_size`, `device`.
"""

from __future__ import annotations

import abc
import math

import datasets
import evaluate

from .compute import MetricModels


CITATION = """\
@inproceedings{brooks2023instructpix2pix, title={InstructPix2Pix: Learning to Follow Image Editing Instructions},
  author={Brooks, Tim and Holynski, Aleksander and Efros, Alexei A.}, booktitle={CVPR}, year={2023}}
@article{oquab2024dinov2, title={DINOv2: Learning Robust Visual Features without Supervision},
  author={Oquab, Maxime and others}, journal={TMLR}, year={2024}}
"""
IMAGE = datasets.Image()
TEXT = datasets.Value("string")


def summary(scores: dict[str, list[float | None]]) -> dict:
    """{metric: mean of the defined values (NaN if none), metric_scores: the values}."""
    result: dict = {}
    for name, values in scores.items():
        defined = [value for value in values if value is not None]
        result[name] = sum(defined) / len(defined) if defined else math.nan
        result[f"{name}_scores"] = values
    return result


class EditMetric(evaluate.Metric, abc.ABC):
    """Abstract, so `evaluate` picks the concrete class of a module file rather than this imported base."""

    description: str
    inputs: dict[str, datasets.features.features.FeatureType]
    inputs_description: str

    @abc.abstractmethod
    def _scores(self, models: MetricModels, **inputs) -> dict[str, list[float | None]]:
        """Per-item values of the module's metrics."""

    def _info(self) -> evaluate.MetricInfo:
        return evaluate.MetricInfo(
            description=self.description,
            citation=CITATION,
            inputs_description=self.inputs_description,
            features=datasets.Features(self.inputs),
        )

    def _compute(self, *, model: str | None = None, batch_size: int = 32, device: str | None = None, **inputs):
        models = MetricModels(batch_size=batch_size, device=device)
        if model is not None:  # the one model family the module uses
            models = MetricModels(clip_model=model, dino_model=model, batch_size=batch_size, device=device)
        return summary(self._scores(models, **inputs))


__all__ = ["CITATION", "IMAGE", "TEXT", "EditMetric", "summary"]
