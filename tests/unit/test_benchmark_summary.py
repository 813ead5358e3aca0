"""run_gpu.sh's summary: ratios against goals, and a benchmark that timed out keeps its partial figures."""

import json
import sys

from tests.helpers import REPO_ROOT


sys.path.insert(0, str(REPO_ROOT / "benchmarks"))
from summarize_runs import main as summarize  # noqa: E402


def test_summary_marks_goals_and_keeps_partial_results_of_a_timeout(tmp_path):
    (tmp_path / "superedit.json").write_text(
        json.dumps({"device": "NVIDIA H200", "ratios": {"c/a": 1.31, "c/b": 1.2}, "goals": {"c/a": 1.3, "c/b": 1.4}})
    )
    (tmp_path / "sft.json").write_text(json.dumps({"device": "NVIDIA H200", "results": [{"label": "TRL defaults"}]}))
    (tmp_path / "dpo.json").write_text(json.dumps({"device": "NVIDIA H200", "ratio": 2.5}))
    code = summarize([str(tmp_path), "superedit=ok", "sft=timed out after 95s", "dpo=ok", "--elapsed", "301"])
    assert code == 1  # not every benchmark finished
    table = (tmp_path / "results.md").read_text()
    assert "| superedit | ok | NVIDIA H200 | c/a | 1.31 | >= 1.3 | yes |" in table
    assert "| superedit | ok | NVIDIA H200 | c/b | 1.20 | >= 1.4 | no |" in table
    assert "| sft | timed out after 95s | NVIDIA H200 | - | - | - | - |" in table
    assert "| dpo | ok | NVIDIA H200 | ratio | 2.50 | - | - |" in table
    assert "| synthesis | not run | - |" in table
    summary = json.loads((tmp_path / "results.json").read_text())
    assert (
        summary["elapsed_s"] == 301 and summary["benchmarks"]["sft"]["result"]["results"][0]["label"] == "TRL defaults"
    )
