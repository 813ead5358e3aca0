"""Demo stage: rectify synthetic pairs and make their negatives with the captioner that sees, then print the
rectification rate and the negative-validity rate that the exact checker measures. The pairs are fresh ones of
the edit types and image size the captioner was trained on (its `scores.json`), not the data stage's mix."""

from __future__ import annotations

from edit_handbook.data import schema
from edit_handbook.evaluation.fresh_pairs import negative_from
from edit_handbook.fixtures import see_captioner_checkpoint, see_captioner_pairs
from edit_handbook.synth.backends import LocalBackend
from edit_handbook.synth.engine import run_task, save_result
from edit_handbook.synth.tasks import make_task, negative_is_valid

from .context import DemoContext


DEMO_PAIRS = 16  # two full passes over CPU generation; enough for a rate, short enough for a demo


def run(context: DemoContext) -> None:
    folder = context.output_dir / "synthesis"
    captioner = context.artifacts.get("captioner") or see_captioner_checkpoint()
    pairs = see_captioner_pairs(DEMO_PAIRS, context.seed + 3000)
    backend = LocalBackend.from_pretrained(str(captioner), batch_size=8)

    rectify = make_task("rectify")
    rectified = run_task(pairs, rectify, backend, folder / "rectify", overwrite=True)
    result = save_result(rectified, rectify, backend, folder / "rectify")
    figures = result.summary
    print(
        f"  rectification rate (checker-verified): {figures['rectification_rate']:.0%} of {figures['rectify_rows']}; "
        f"{figures['rectify_summarised']} answers needed the summarising call"
    )
    # Negatives from the rectified instruction where rectification worked, from the original one elsewhere.
    negatives = make_task("negatives", clip_tokenizer=rectify.clip_tokenizer)
    rows = run_task(rectified, negatives, backend, folder / "negatives", overwrite=True)
    result = save_result(rows, negatives, backend, folder / "negatives")
    rate = result.summary["negative_validity_rate"]
    shown = "n/a (no negative survived screening)" if rate is None else f"{rate:.0%}"
    print(f"  negative-validity rate (checker): {shown} of {result.summary['negatives_checked']} negatives kept")
    # The captioner is trained to rectify, not to write negatives: the stated rule on its own rectifications
    # (`evaluation.fresh_pairs.negative_from`) shows what its rectifications are worth as negatives' sources.
    ruled = [negative_from(text) if text else None for text in rectified[schema.RECTIFIED]]
    valid = sum(bool(n) and negative_is_valid(n, spec) for n, spec in zip(ruled, rectified["edit_spec"]))
    print(
        f"  negatives by the stated rule from its rectifications: {valid} of {len(ruled)} wrong on exactly one aspect"
    )
    context.artifacts["rectified_dataset"] = folder / "negatives" / "dataset"
    context.record("rectified pairs (card)", folder / "rectify" / "README.md")
    context.record("pairs with negatives (dataset)", folder / "negatives" / "dataset")
