"""L1 and L2 distance of edited images to target images: mean absolute / squared RGB difference in [0, 1]."""

from edit_handbook.evaluation.metrics.compute import compute_edit_metrics
from edit_handbook.evaluation.metrics.module import IMAGE, EditMetric


class PixelDistance(EditMetric):
    description = (
        "L1 = mean |edit - target| and L2 = mean (edit - target)^2 over RGB values in [0, 1], the edit resized "
        "(bicubic) to the target's size (lower = closer). Needs no model."
    )
    inputs = {"predictions": IMAGE, "references": IMAGE}
    inputs_description = "predictions: edited images; references: the target (ground-truth edited) images."

    def _scores(self, models, predictions, references):
        # L1/L2 compare with the target, never the source: the edits fill the source argument.
        return compute_edit_metrics(["l1", "l2"], predictions, predictions, targets=references, models=models)
