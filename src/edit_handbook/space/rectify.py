"""The "Rectify" tab: SuperEdit's rectified instruction and single-attribute negatives for one pair.

Runs the synthesis engine's own tasks (`RectifyTask`, `NegativesTask`: same prompts, CLIP-length rule and
screening as `edit-handbook synthesize`) on a one-row batch, so the Space shows exactly what a synthesis run
would write for the pair. Whatever the engine refused or could not read is reported, not hidden.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from PIL import Image

from edit_handbook.data import schema
from edit_handbook.synth.backends import Backend
from edit_handbook.synth.tasks import OK, REASON, REJECTED, STATUS, NegativesTask, RectifyTask


@dataclass
class Rectified:
    """The rectified instruction (None when there is none), kept (attribute, instruction) negatives, and notes."""

    instruction: str | None
    negatives: list[tuple[str, str]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


def rectify_pair(
    source: Image.Image,
    target: Image.Image,
    instruction: str,
    *,
    rectifier: Backend,
    negatives_writer: Backend,
    clip_tokenizer,
    num_negatives: int = 4,
) -> Rectified:
    """Rectify `instruction` for (source, target), then ask for wrong instructions that differ in one attribute.

    Negatives are made from the rectified instruction when there is one, from the original otherwise (as the
    synthesis demo does).
    """
    row = {schema.SOURCE_IMAGE: source, schema.TARGET_IMAGE: target, schema.INSTRUCTION: instruction}
    outcome = RectifyTask(clip_tokenizer)([row], rectifier)[0]
    result = Rectified(instruction=outcome[schema.RECTIFIED])
    if outcome[STATUS] != OK:
        result.notes.append(f"Rectification {outcome[STATUS]}: {outcome[REASON]}.")
    if outcome["rectify_summarised"]:
        result.notes.append(
            f"The first answer was over CLIP's 77 tokens and was summarised ({outcome['rectify_clip_tokens']} tokens)."
        )
    if result.instruction:
        row[schema.RECTIFIED] = result.instruction
    else:
        result.notes.append("Negatives are made from the original instruction instead.")

    outcome = NegativesTask(clip_tokenizer, k=num_negatives)([row], negatives_writer)[0]
    result.negatives = list(zip(outcome["negative_attributes"], outcome[schema.NEGATIVES]))
    if outcome[STATUS] != OK:
        what = "too few usable negatives" if outcome[STATUS] == REJECTED else "no negatives"
        result.notes.append(f"{what.capitalize()} from {negatives_writer.model_name}: {outcome[REASON]}.")
    if outcome["negatives_rejected"]:
        screened = "; ".join(outcome["negatives_rejected"])
        result.notes.append(f"Screened out ({len(outcome['negatives_rejected'])}): {screened}.")
    return result
