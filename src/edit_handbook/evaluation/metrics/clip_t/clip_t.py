"""CLIP-T: cosine similarity of the edited image's CLIP embedding and the text's (instruction or target caption)."""

from edit_handbook.evaluation.metrics.compute import compute_edit_metrics
from edit_handbook.evaluation.metrics.module import IMAGE, TEXT, EditMetric


class ClipT(EditMetric):
    description = "CLIP-T: how well an edited image matches a text, as CLIP sees it (higher = closer)."
    inputs = {"predictions": IMAGE, "references": TEXT}
    inputs_description = (
        "predictions: edited images; references: the text each should match, a target caption or, where there "
        "is none, the instruction. Text beyond CLIP's 77 tokens is cut."
    )

    def _scores(self, models, predictions, references):
        # CLIP-T never looks at a source image: the edits fill that argument and are embedded once.
        return compute_edit_metrics(["clip_t"], predictions, predictions, target_captions=references, models=models)
