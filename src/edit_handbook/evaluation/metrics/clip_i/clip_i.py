"""CLIP-I: cosine similarity of the CLIP image embeddings of the source and the edited image."""

from edit_handbook.evaluation.metrics.compute import compute_edit_metrics
from edit_handbook.evaluation.metrics.module import IMAGE, EditMetric


class ClipI(EditMetric):
    description = "CLIP-I: how much of the source image an edit keeps, as CLIP sees it (higher = closer)."
    inputs = {"predictions": IMAGE, "references": IMAGE}
    inputs_description = "predictions: edited images; references: their source images (PIL images or paths)."

    def _scores(self, models, predictions, references):
        return compute_edit_metrics(["clip_i"], references, predictions, models=models)
