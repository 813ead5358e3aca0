"""`edit-handbook evaluate` end to end: the synthetic suite with the smoke captioner, the instruction suite with a
judge behind an OpenAI-compatible server (scripted, then the real tiny model), and `report` on saved results."""

import json
from pathlib import Path

import pytest
from PIL import Image
from tests.synth_servers import FaultServer, request_text

from edit_handbook.cli import main as cli
from edit_handbook.data.synthetic import generate_dataset
from edit_handbook.evaluation.report import load_results


RECIPES = Path(__file__).resolve().parents[2] / "recipes"


@pytest.fixture(scope="module")
def pairs_folder(tmp_path_factory):
    """Synthetic pairs saved to disk, with a `flawed` column: each pair's first flawed instruction."""
    pairs = generate_dataset(6, seed=3, image_size=64)
    pairs = pairs.add_column("flawed", [texts[0] for texts in pairs["flawed_instructions"]])
    folder = tmp_path_factory.mktemp("pairs") / "pairs"
    pairs.save_to_disk(str(folder))
    return folder, pairs


def test_synthetic_suite_with_the_smoke_captioner_and_a_synthesis_output(sft_smoke_checkpoint, pairs_folder, tmp_path):
    folder, pairs = pairs_folder
    out = tmp_path / "eval"
    argv = ["evaluate", "synthetic", "--dataset_name", str(folder), "--output_dir", str(out)]
    argv += [
        "--captioners",
        "reference=column:instruction",
        f"sft={sft_smoke_checkpoint}",
        "--captioner_dtype",
        "float32",
    ]
    assert cli([*argv, "--synthesis_output", str(folder), "--bootstrap_resamples", "200"]) == 0

    results = {(r.suite, r.system): r for r in load_results([out])}
    reference = results[("synthetic_checker", "reference")]
    assert reference.metrics["accuracy"].value == 1.0 and reference.metrics["accuracy"].n == 6
    sft = results[("synthetic_checker", "sft")]
    assert sft.metrics["answered_rate"].value == 1.0  # every pair got an instruction, right or wrong
    assert [item["id"] for item in sft.items] == list(pairs["id"])
    # The generator's own rectified descriptions and negatives are right by construction.
    assert results[("rectification", "pairs")].metrics["rectification_success"].value == 1.0
    assert results[("negatives", "pairs")].metrics["negative_validity"].value == 1.0

    report = (out / "report.md").read_text()
    assert "`sft` - `reference` | correct |" in report and "## Rectification" in report
    assert (out / "results" / "synthetic_checker-sft.json").is_file() and (out / "run_info.json").is_file()
    with Image.open(out / "plots" / "synthetic_checker-failure_mode.png") as plot:
        assert plot.width > 300


def test_instruction_suite_with_a_served_judge(pairs_folder, tmp_path):
    folder, pairs = pairs_folder
    flaws = {text: types[0] for text, types in zip(pairs["flawed"], pairs["flawed_error_types"])}
    unreadable = pairs["flawed"][5]

    def judge(body):
        text = request_text(body)
        if unreadable in text:
            return "I would give it a 2."  # stays unusable after the repair request
        if any(f'"{reference}"' in text for reference in pairs["instruction"]):
            return json.dumps({"answer": "yes", "score": 5, "classification": "correct", "error_type": "none",
                               "reason": "exact"})  # fmt: skip
        flaw = next(error_type for flawed, error_type in flaws.items() if f'"{flawed}"' in text)
        return json.dumps({"answer": "no", "score": 1, "classification": "critical", "error_type": flaw,
                           "reason": "wrong"})  # fmt: skip

    out = tmp_path / "eval"
    with FaultServer(judge) as server:
        argv = ["evaluate", "instructions", "--dataset_name", str(folder), "--output_dir", str(out)]
        argv += ["--captioners", "reference=column:instruction", "flawed=column:flawed", "--judge_backend", "http"]
        argv += ["--judge_base_url", server.base_url, "--judge_model", "scripted", "--judge_api_key_env", ""]
        argv += ["--judge_cache_dir", str(tmp_path / "cache")]
        assert cli(argv) == 0
        calls = server.count
        assert cli(argv) == 0
        assert server.count == calls  # the rerun is answered from the judge cache

    reference, flawed = load_results([out])
    assert reference.metrics["mean_score"].value == 5.0 and reference.metrics["correct_rate"].value == 1.0
    assert flawed.metrics["mean_score"].value == 1.0 and flawed.metrics["critical_error_rate"].value == 1.0
    assert flawed.metrics["judged_rate"].value == 5 / 6 and flawed.meta["judge_failures"] == 1
    types = [error_types[0] for error_types in pairs["flawed_error_types"][:5]]
    for error_type, values in flawed.groups["error_type"].items():
        assert values["error_rate"].value == types.count(error_type) / 5
    assert flawed.items[0]["reference"] == pairs["instruction"][0]
    report = (out / "report.md").read_text()
    assert "`flawed` - `reference` | score | -4.000 [-4.000, -4.000] (n=5)" in report
    assert "1 unusable judge answers, of 6" in report


def test_instruction_suite_with_the_real_tiny_model_as_judge(
    tiny_vlm_server, tiny_qwen3_vl_path, pairs_folder, tmp_path
):
    base_url, model = tiny_vlm_server
    folder, _ = pairs_folder
    out = tmp_path / "eval"
    argv = ["evaluate", "instructions", "--dataset_name", str(folder), "--output_dir", str(out), "--max_pairs", "2"]
    argv += ["--captioners", "column:instruction", f"tiny={tiny_qwen3_vl_path}", "--captioner_dtype", "float32"]
    argv += ["--judge_backend", "http", "--judge_base_url", base_url, "--judge_model", model]
    argv += ["--judge_api_key_env", "", "--judge_max_new_tokens", "8"]
    assert cli(argv) == 0
    for result in load_results([out]):
        # Random weights: the answers are not JSON, so every item is counted as unusable, never scored 0.
        unusable = result.meta["judge_failures"] + result.meta["captioner_failures"]
        assert unusable == 2 and result.metrics["mean_score"].n == 0
        assert all(item["error"] for item in result.items)


def test_report_command_renders_saved_results(pairs_folder, tmp_path):
    folder, _ = pairs_folder
    first, second = tmp_path / "a", tmp_path / "b"
    for out, column in ((first, "instruction"), (second, "flawed")):
        argv = ["evaluate", "synthetic", "--dataset_name", str(folder), "--output_dir", str(out)]
        assert cli([*argv, "--captioners", f"{column}=column:{column}"]) == 0
    combined = tmp_path / "both"
    argv = ["evaluate", "report", "--results", str(first), str(second / "results" / "synthetic_checker-flawed.json")]
    assert cli([*argv, "--output_dir", str(combined)]) == 0
    text = (combined / "report.md").read_text()
    assert "| metric | `instruction` | `flawed` |" in text and "`flawed` - `instruction` | correct |" in text
    with Image.open(combined / "plots" / "synthetic_checker-flawed-worst.png") as grid:
        assert grid.width > 300


@pytest.mark.parametrize("recipe", ["config_synthetic.yaml", "config_instructions.yaml"])
def test_smoke_recipes_run(recipe, tmp_path):
    path = RECIPES / "evaluation" / "smoke" / "evaluate" / recipe
    assert cli(["evaluate", "--config", str(path), "--output_dir", str(tmp_path)]) == 0
    (result,) = load_results([tmp_path])
    assert result.items and (tmp_path / "report.md").is_file()
    if result.suite == "synthetic_checker":
        assert result.metrics["accuracy"].value == 1.0  # the generator's references, checked
    else:
        assert result.meta["judge_failures"] == len(result.items)  # an untrained judge: unusable, counted


def test_demo_stage_writes_a_report_in_seconds(tiny_ip2p_path, tmp_path, capsys):
    from edit_handbook.demo.context import DemoContext
    from edit_handbook.demo.stages import run_demo

    context = DemoContext(output_dir=tmp_path, num_pairs=16, image_size=64, seed=0)
    context.artifacts.update(superedit_editor=tiny_ip2p_path)  # the captioner: the shipped one that sees
    run_demo(context, only=["evaluation"])
    systems = {(r.suite, r.system) for r in load_results([tmp_path / "evaluation"])}
    assert systems == {
        ("synthetic_checker", "sft"),
        ("real_edit", "editor"),
        ("synthetic_editing", "editor"),
    }
    assert f"evaluation report: {tmp_path / 'evaluation' / 'report.md'}" in capsys.readouterr().out
