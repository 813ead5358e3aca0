"""DINO similarity: cosine similarity of the DINOv2 embeddings (CLS) of the source and the edited image."""

from edit_handbook.evaluation.metrics.compute import compute_edit_metrics
from edit_handbook.evaluation.metrics.module import IMAGE, EditMetric


class DinoSimilarity(EditMetric):
    description = "DINO similarity: how much of the source image's structure an edit keeps (higher = closer)."
    inputs = {"predictions": IMAGE, "references": IMAGE}
    inputs_description = "predictions: edited images; references: their source images. `model`: a DINOv2 checkpoint."

    def _scores(self, models, predictions, references):
        return compute_edit_metrics(["dino_similarity"], references, predictions, models=models)
