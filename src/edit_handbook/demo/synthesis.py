"""Demo stage: rectify synthetic pairs and make their negatives with the smoke captioner, then print the
rectification rate and the negative-validity rate that the exact checker measures."""

from __future__ import annotations

import datasets

from edit_handbook.data.synthetic import generate_dataset
from edit_handbook.synth.backends import LocalBackend
from edit_handbook.synth.engine import run_task, save_result
from edit_handbook.synth.tasks import make_task

from .context import DemoContext


DEMO_PAIRS = 16  # two full passes over CPU generation; enough for a rate, short enough for a demo


def run(context: DemoContext) -> None:
    folder = context.output_dir / "synthesis"
    captioner = context.artifacts.get("captioner")
    if captioner is None:
        from edit_handbook.models import tiny_qwen3_vl

        captioner = tiny_qwen3_vl()
        print("  no captioner from the SFT stage: using the untrained tiny Qwen3-VL, so expect rates near 0")
    saved = context.artifacts.get("synthetic_dataset")
    pairs = datasets.load_from_disk(str(saved)) if saved else generate_dataset(DEMO_PAIRS, seed=context.seed)
    pairs = pairs.select(range(min(DEMO_PAIRS, len(pairs))))
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
    context.artifacts["rectified_dataset"] = folder / "negatives" / "dataset"
    context.record("rectified pairs (card)", folder / "rectify" / "README.md")
    context.record("pairs with negatives (dataset)", folder / "negatives" / "dataset")
