"""Directional CLIP similarity: does the image change in the direction the text changes (InstructPix2Pix)."""

from edit_handbook.evaluation.metrics.compute import compute_edit_metrics
from edit_handbook.evaluation.metrics.module import IMAGE, TEXT, EditMetric


class ClipDirectional(EditMetric):
    description = (
        "Directional CLIP similarity: cos(n(E_img(edit)) - n(E_img(source)), n(E_txt(target)) - n(E_txt(source))), "
        "n = L2 normalisation. Where only an instruction exists, pass it as the target text and '' as the source "
        "text (the convention edit_handbook's editing suite uses)."
    )
    inputs = {"predictions": IMAGE, "references": IMAGE, "source_texts": TEXT, "target_texts": TEXT}
    inputs_description = (
        "predictions: edited images; references: their source images; source_texts / target_texts: captions of "
        "the source and of the wanted result."
    )

    def _scores(self, models, predictions, references, source_texts, target_texts):
        if any(not text for text in target_texts):
            raise ValueError("every target text must be non-empty (the instruction, where there is no caption)")
        sources = [text or "" for text in source_texts]
        return compute_edit_metrics(
            ["clip_directional"],
            references,
            predictions,
            source_captions=sources,
            target_captions=list(target_texts),
            models=models,
        )
