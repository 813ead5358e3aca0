"""Reports: JSON, Markdown, plots and the model-card section, for instruction and Real-Edit results alike."""

import json

import numpy as np
import pytest
from PIL import Image

from edit_handbook.evaluation.report import REPORT_JSON, card_section, load_results, write_report
from edit_handbook.evaluation.results import SuiteResult
from edit_handbook.evaluation.stats import estimate


@pytest.fixture
def results(tmp_path):
    folder = tmp_path / "run"
    (folder / "images").mkdir(parents=True)
    items = {}
    for i in range(4):
        for name in ("source", "target"):
            Image.fromarray(np.full((20, 30, 3), 50 * i, dtype=np.uint8)).save(folder / f"images/{i}_{name}.png")
        items[i] = {"source": f"images/{i}_source.png", "target": f"images/{i}_target.png"}

    def quality(system, scores):
        rows = [
            {"id": f"p{i}", "instruction": f"edit {i}", "score": s, "correct": s == 5, "images": items[i]}
            for i, s in enumerate(scores)
        ]
        metrics = {"mean_score": estimate(scores), "correct_rate": estimate([s == 5 for s in scores])}
        groups = {"error_type": {"orientation": {"error_rate": estimate([s < 3 for s in scores])}}}
        meta = {"image_root": str(folder), "item_metrics": ["score", "correct"], "judge_failures": 1, "items": 5}
        return SuiteResult("instruction_quality", system, metrics, groups, rows, meta, rank_key="score")

    edit = {"source": str(folder / "images/0_source.png"), "edit": str(folder / "images/1_target.png")}
    real_edit = SuiteResult(
        "real_edit",
        "tiny-editor",
        {"following_yes": estimate([True, False]), "following_score": estimate([4, 2])},
        {"edit_type": {"Local": {"following_yes": estimate([True])}, "Style": {"following_yes": estimate([False])}}},
        [
            {"id": "2_local", "instruction": "Make it red.", "judge_score": 4.0, "images": edit},
            {"id": "2_style", "instruction": "Paint it.", "judge_score": 2.0, "images": edit},
        ],
        {"note": "Follows the Real-Edit protocol, not the release's exact judge prompts."},
        rank_key="judge_score",
    )
    return [quality("base", [5, 4, 1, 2]), quality("tuned", [5, 5, 3, 5]), real_edit]


def test_report_files(results, tmp_path):
    markdown = write_report(results, tmp_path / "report", grid_items=3)
    text = markdown.read_text()
    assert "| metric | `base` | `tuned` |" in text
    assert "| mean_score | 3.000 [" in text and "(n=4)" in text
    assert "| correct_rate | 25.0% [" in text  # rates print as percentages
    assert "`tuned` - `base` | score | 1.500 [" in text  # paired over the same four items
    assert "1 unusable judge answers, of 5" in text
    assert "> Follows the Real-Edit protocol, not the release's exact judge prompts." in text
    assert "| following_yes | 50.0% [" in text and "| Style | `tiny-editor` | 0.0% [" in text

    report = json.loads((tmp_path / "report" / REPORT_JSON).read_text())
    assert [r["system"] for r in report["results"]] == ["base", "tuned", "tiny-editor"]
    figures = [path for paths in report["figures"].values() for path in paths]
    assert "plots/instruction_quality-error_type.png" in figures
    assert "plots/real_edit-tiny-editor-worst.png" in figures
    for figure in figures:
        assert f"]({figure})" in text
        with Image.open(tmp_path / "report" / figure) as image:
            image.load()
            assert image.width >= 300 and image.height >= 150


def test_best_and_worst_grids_order_items(results, tmp_path):
    write_report(results[:1], tmp_path / "r", grid_items=2)
    plots = tmp_path / "r" / "plots"
    with (
        Image.open(plots / "instruction_quality-base-best.png") as best,
        Image.open(plots / "instruction_quality-base-worst.png") as worst,
    ):
        # Best: items 0 and 1 (grey 0 and 50); worst: items 2 and 3 (grey 100 and 150). Top-left cell pixel:
        assert best.getpixel((10, 10)) == (0, 0, 0) and worst.getpixel((10, 10)) == (100, 100, 100)


def test_card_section_and_reloading(results, tmp_path):
    write_report(results, tmp_path / "report")
    section = card_section(tmp_path / "report")
    assert section.startswith("### Instruction quality (VLM judge)")
    assert "> Follows the Real-Edit protocol" in section and "95% bootstrap intervals" in section
    assert "### By" not in section  # per-group tables stay in the full report
    reloaded = load_results([tmp_path / "report"])
    assert [r.system for r in reloaded] == ["base", "tuned", "tiny-editor"]
    assert reloaded[1].metrics["mean_score"] == results[1].metrics["mean_score"]
    with pytest.raises(FileNotFoundError, match="run `edit-handbook evaluate` first"):
        card_section(tmp_path)


def test_systems_must_have_distinct_names(results, tmp_path):
    with pytest.raises(ValueError, match="name systems apart"):
        write_report([results[0], results[0]], tmp_path)
