"""`edit-handbook push`: the folders and complete cards it writes, and the Hub calls it makes (a fake HfApi)."""

import json
import shutil
import subprocess
import sys
import types
from pathlib import Path

import datasets
import pytest
import yaml
from PIL import Image
from tests.helpers import FakeHubApi

from edit_handbook import cli
from edit_handbook.data import schema
from edit_handbook.data.preview import example_grid
from edit_handbook.data.synthetic import generate_dataset
from edit_handbook.editcaption.inference import describe_edit
from edit_handbook.hub import cards, publish, push, release
from edit_handbook.hub.space_bundle import bundle_space, space_requirements
from edit_handbook.models import load_vlm


def _meta(folder: Path) -> dict:
    return cards.read_card(folder).meta


@pytest.fixture
def without_report_module(monkeypatch):
    """The evaluation suite's `card_section` absent: push falls back to the report's report.md."""
    monkeypatch.setitem(sys.modules, "edit_handbook.evaluation.report", None)


def _report(tmp_path: Path) -> Path:
    folder = tmp_path / "eval"
    folder.mkdir()
    (folder / "report.md").write_text("| suite | score |\n|---|---|\n| eval-400 | 4.51 |\n")
    return folder


def _captioner_folder(tmp_path: Path, model_path: Path) -> Path:
    """A finished SFT output: model + processor, run_info, the training-time card, a leftover checkpoint."""
    folder = tmp_path / "captioner"
    shutil.copytree(model_path, folder)
    info = {
        "git_sha": "cafe",
        "command": "src/edit_handbook/sft.py --config recipes/editcaption/qwen3-vl-2b/sft/config_full.yaml",
        "config": {
            "script": {"dataset_name": None, "dataset_preset": "superedit-40k", "tasks": ["caption"]},
            "model": {"model_name_or_path": "Qwen/Qwen3-VL-2B-Instruct"},
            "training": {"learning_rate": 1e-5},
        },
    }
    publish.publish_model(folder, info, kind="captioner", base_model="Qwen/Qwen3-VL-2B-Instruct", datasets=["x"])
    (folder / "checkpoint-5").mkdir()
    (folder / "checkpoint-5" / "optimizer.pt").write_bytes(b"state")
    return folder


def test_push_captioner_writes_a_complete_card_and_uploads_the_model_only(
    tmp_path, sft_smoke_checkpoint, without_report_module, monkeypatch
):
    folder = _captioner_folder(tmp_path, sft_smoke_checkpoint)
    drawn = []
    monkeypatch.setattr(release, "example_grid", lambda rows, path: drawn.extend(rows) or example_grid(rows, path))
    api = FakeHubApi()
    argv = ["captioner", str(folder), "--repo-id", "me/edit-captioner", "--revision", "v1", "--private"]
    argv += ["--eval-report", str(_report(tmp_path)), "--num-examples", "2", "--device", "cpu"]
    assert push.main(argv, api=api) == 0

    card = cards.read_card(folder)
    assert card.meta["base_model"] == "Qwen/Qwen3-VL-2B-Instruct"
    assert card.meta["datasets"] == ["limingcv/SuperEdit-40K"] and card.meta["pipeline_tag"] == "image-text-to-text"
    assert card.title == "me/edit-captioner"
    assert "| eval-400 | 4.51 |" in card.sections["Evaluation"]
    assert card.sections["Examples"].startswith("![examples](examples.png)")
    assert "instruction this model wrote" in card.sections["Examples"]
    assert "`recipes/editcaption/qwen3-vl-2b/sft/config_full.yaml`" in card.sections["Recipe"]
    assert '"learning_rate": 1e-05' in card.sections["Recipe"]
    assert 'from_pretrained("me/edit-captioner"' in card.sections["How to use"]
    for section in ("Intended use", "Limitations", "Citation", "Run info"):
        assert card.sections[section]
    with Image.open(folder / "examples.png") as grid:
        assert grid.width > 2 * 160  # two pairs side by side
    # The grid shows what the captioner itself writes for each pair (greedy, so the same again).
    model, processor = load_vlm(folder)
    pairs = release.example_pairs("synthetic", 2)
    written = describe_edit(
        model, processor, [p[schema.SOURCE_IMAGE] for p in pairs], [p[schema.TARGET_IMAGE] for p in pairs]
    )
    assert [row[schema.INSTRUCTION] for row in drawn] == written and all(written)

    assert api.call("create_repo") == {"repo_type": "model", "private": True, "exist_ok": True}
    assert api.call("create_branch")["branch"] == "v1"
    upload = api.call("upload_folder")
    assert upload["repo_type"] == "model" and upload["revision"] == "v1" and upload["folder_path"] == str(folder)
    (files,) = api.uploads
    assert {"README.md", "examples.png", "run_info.json", "config.json", "model.safetensors"} <= set(files)
    assert not any(name.startswith("checkpoint-") for name in files)


def test_push_model_keeps_the_existing_evaluation_and_grid_and_uses_card_section(tmp_path, monkeypatch):
    folder = tmp_path / "editor"
    folder.mkdir()
    Image.new("RGB", (8, 8)).save(folder / "validation.png")
    info = {"config": {"SuperEditModelArguments": {"pretrained_model_name_or_path": "timbrooks/instruct-pix2pix"}}}
    (folder / "run_info.json").write_text(json.dumps(info))
    cards.write_card(
        folder,
        cards.model_card(
            model_name="editor",
            kind="editor",
            base_model="timbrooks/instruct-pix2pix",
            metrics_markdown="held-out gap 0.01",
            example_grid="validation.png",
        ),
    )
    argv = ["editor", str(folder), "--repo-id", "me/editor", "--num-examples", "0", "--dry-run"]
    assert push.main(argv, api=None) == 0  # a dry run never builds an HfApi
    card = cards.read_card(folder)
    assert (
        card.sections["Evaluation"] == "held-out gap 0.01"
        and card.sections["Examples"] == "![examples](validation.png)"
    )
    assert (
        card.meta["pipeline_tag"] == "image-to-image"
        and "StableDiffusionInstructPix2PixPipeline" in card.sections["How to use"]
    )

    report_module = types.ModuleType("edit_handbook.evaluation.report")
    report_module.card_section = lambda report_dir: f"Real-Edit table from {Path(report_dir).name}"
    monkeypatch.setitem(sys.modules, "edit_handbook.evaluation.report", report_module)
    argv += ["--eval-report", str(tmp_path / "editor-eval")]
    assert push.main(argv) == 0
    assert cards.read_card(folder).sections["Evaluation"] == "Real-Edit table from editor-eval"


def test_push_model_refuses_a_base_model_that_is_not_a_hub_id(tmp_path):
    folder = tmp_path / "captioner"
    folder.mkdir()
    (folder / "run_info.json").write_text(
        json.dumps({"config": {"model": {"model_name_or_path": "tiny-qwen3-vl-synthetic"}}})
    )
    with pytest.raises(ValueError, match="pass --base-model"):
        push.main(["captioner", str(folder), "--repo-id", "me/x", "--num-examples", "0", "--dry-run"])


def test_push_editor_renders_its_edits_into_the_grid(tmp_path, tiny_ip2p_path):
    folder = tmp_path / "editor"
    shutil.copytree(tiny_ip2p_path, folder)
    info = {"config": {"SuperEditModelArguments": {"pretrained_model_name_or_path": "timbrooks/instruct-pix2pix"}}}
    (folder / "run_info.json").write_text(json.dumps(info))
    pairs = tmp_path / "pairs"
    generate_dataset(2, image_size=32).save_to_disk(str(pairs))  # small images: a fast CPU edit
    argv = ["editor", str(folder), "--repo-id", "me/editor", "--examples", str(pairs), "--inference-steps", "2"]
    assert push.main([*argv, "--device", "cpu", "--dry-run"]) == 0
    card = cards.read_card(folder)
    assert "this model's edit" in card.sections["Examples"] and "2 steps" in card.sections["Examples"]
    assert (folder / "examples.png").is_file() and card.meta["base_model"] == "timbrooks/instruct-pix2pix"


def _synthesis_folder(tmp_path: Path) -> Path:
    """What `edit-handbook synthesize rectify` leaves: dataset/ (train + rejected), run_info.json, a card."""
    folder = tmp_path / "rectified"
    rows = generate_dataset(6, seed=1, image_size=32)
    rows = rows.add_column("synthesis_status", ["ok"] * 4 + ["failed"] * 2)
    rows = rows.add_column("prompt_version", ["rectify-v3"] * 6)
    splits = datasets.DatasetDict(train=rows.select(range(4)), rejected=rows.select(range(4, 6)))
    splits.save_to_disk(str(folder / "dataset"))
    info = {
        "git_sha": "beef",
        "command": "edit-handbook synthesize rectify --config recipes/synthesis/smoke/synthesize/config_rectify.yaml",
        "config": {
            "data": {"dataset_name": "synthetic"},
            "synthesis": {"task": "rectify"},
            "backend": {"backend": "local", "model": "tiny:qwen3-vl"},
        },
    }
    (folder / "run_info.json").write_text(json.dumps(info))
    cards.write_card(
        folder,
        cards.dataset_card(
            name="edit-handbook synthesis: rectify",
            description="Edit pairs processed by the rectify task.",
            columns={},
            num_rows={"train": 4},
            provenance="Task settings: `max_clip_tokens=77`.",
            prompt_version="rectify-v3",
        ),
    )
    return folder


def test_push_dataset_uploads_parquet_splits_with_a_complete_card(tmp_path):
    folder = _synthesis_folder(tmp_path)
    api = FakeHubApi()
    assert push.main(["dataset", str(folder), "--repo-id", "me/rectified", "--num-examples", "3"], api=api) == 0

    staging = folder / release.DATASET_STAGING
    upload = api.call("upload_folder")
    assert upload["repo_type"] == "dataset" and upload["folder_path"] == str(staging) and upload["revision"] is None
    assert api.call("create_repo") == {"repo_type": "dataset", "private": None, "exist_ok": True}
    assert api.uploads == [
        [
            "README.md",
            "data/rejected-00000-of-00001.parquet",
            "data/train-00000-of-00001.parquet",
            "examples.png",
            "run_info.json",
        ]
    ]
    train = datasets.Dataset.from_parquet(str(staging / "data" / "train-00000-of-00001.parquet"))
    assert len(train) == 4 and train[0][schema.SOURCE_IMAGE].size == (32, 32)  # image bytes embedded, decodable

    card = cards.read_card(staging)
    assert (folder / "README.md").read_text() == (staging / "README.md").read_text()
    assert (
        card.title == "edit-handbook synthesis: rectify" and card.intro == "Edit pairs processed by the rectify task."
    )
    assert card.meta["license"] == "apache-2.0" and card.meta["size_categories"] == ["n<1K"]
    assert "| `source_image` | image |" in card.sections["Schema"]
    assert "| `negative_instructions` | list[string] |" in card.sections["Schema"]
    assert "| train | 4 |" in card.sections["Splits"] and "| rejected | 2 |" in card.sections["Splits"]
    provenance = card.sections["Provenance"]
    assert "Task settings: `max_clip_tokens=77`." in provenance and provenance.count("Prompt version") == 1
    assert "source dataset: `synthetic`" in provenance and "synthesis task: `rectify`" in provenance
    assert "backend: `local`, model `tiny:qwen3-vl`" in provenance and "`beef`" in provenance
    assert "Prompt version: `rectify-v3`" in provenance
    assert "| train: synthesis_status=ok | 4 |" in card.sections["Counts"]
    assert "| rejected: synthesis_status=failed | 2 |" in card.sections["Counts"]
    assert "| train: edit_type=" in card.sections["Counts"]
    assert card.sections["Licence"] == "apache-2.0" and "2505.02370" in card.sections["Citation"]


def test_load_dataset_folder_reads_generate_parquet_output_and_names_what_it_expects(tmp_path):
    rows = generate_dataset(3, image_size=16)
    rows.to_parquet(str(tmp_path / "pairs" / "data" / "train.parquet"))
    loaded = release.load_dataset_folder(tmp_path / "pairs")
    assert list(loaded) == ["train"] and len(loaded["train"]) == 3
    (tmp_path / "empty").mkdir()
    with pytest.raises(FileNotFoundError, match="holds no dataset: expected dataset/"):
        release.load_dataset_folder(tmp_path / "empty")


def _space(tmp_path: Path) -> Path:
    space = tmp_path / "space"
    space.mkdir(parents=True)
    (space / "app.py").write_text("import edit_handbook\nprint(edit_handbook.__file__)\n")
    (space / "README.md").write_text("---\ntitle: edit-handbook\nsdk: gradio\napp_file: app.py\n---\n# demo\n")
    (space / "requirements.txt").write_text("gradio>=5.9  # the app's pin wins\n-e ../..\nedit-handbook\nspaces\n")
    (space / "__pycache__").mkdir()
    (space / "__pycache__" / "app.cpython-311.pyc").write_bytes(b"")
    return space


def test_space_requirements_keep_the_apps_lines_and_add_the_package_requirements():
    app = ["--extra-index-url https://example.org/simple", "gradio==5.9", "-e ../..", "edit_handbook", "# note", ""]
    package = ["torch>=2.4", "gradio>=5.0", "trl~=1.16"]
    assert space_requirements(app, package) == [
        "--extra-index-url https://example.org/simple",
        "gradio==5.9",
        "torch>=2.4",
        "trl~=1.16",
    ]


def test_push_space_bundles_the_package_and_published_requirements(tmp_path):
    space, bundle = _space(tmp_path), tmp_path / "bundle"
    api = FakeHubApi()
    argv = ["space", str(space), "--repo-id", "me/edit-handbook", "--staging-dir", str(bundle), "--private"]
    assert push.main(argv, api=api) == 0
    assert api.call("create_repo") == {"repo_type": "space", "private": True, "exist_ok": True, "space_sdk": "gradio"}
    (files,) = api.uploads
    assert {
        "app.py",
        "README.md",
        "requirements.txt",
        "run_info.json",
        "edit_handbook/hub/cards.py",
        "edit_handbook/cli.py",
    } <= set(files)
    assert not any("__pycache__" in name for name in files)
    requirements = [
        line for line in (bundle / "requirements.txt").read_text().splitlines() if not line.startswith("#")
    ]
    assert requirements[:2] == ["gradio>=5.9", "spaces"]
    assert {"torch>=2.4", "trl~=1.16", "diffusers>=0.42"} <= set(requirements)
    assert not any("edit-handbook" in line or line.startswith("-e") for line in requirements)
    # The bundled copy is what the app imports (its folder comes first on sys.path), not this checkout's.
    printed = subprocess.run([sys.executable, "app.py"], cwd=bundle, capture_output=True, text=True, check=True)
    assert Path(printed.stdout.strip()).resolve() == (bundle / "edit_handbook" / "__init__.py").resolve()


def test_bundle_space_names_what_is_missing(tmp_path):
    (tmp_path / "space").mkdir()
    with pytest.raises(FileNotFoundError, match="has no app.py"):
        bundle_space(tmp_path / "space", tmp_path / "bundle")
    space = _space(tmp_path / "ok")
    with pytest.raises(ValueError, match="must lie outside the Space folder"):
        bundle_space(space, space / "bundle")


REAL_SPACE = Path(__file__).resolve().parents[2] / "spaces" / "edit-handbook"


@pytest.mark.skipif(
    not all((REAL_SPACE / name).is_file() for name in ("app.py", "README.md")),
    reason="spaces/edit-handbook (app.py, README.md) is not complete in this checkout yet",
)
def test_the_projects_space_bundles(tmp_path):
    bundle = bundle_space(REAL_SPACE, tmp_path / "bundle")
    assert (bundle / "edit_handbook" / "__init__.py").is_file()
    assert yaml.safe_load((bundle / "README.md").read_text().split("---\n")[1])["sdk"] == "gradio"
    lines = [line for line in (bundle / "requirements.txt").read_text().splitlines() if not line.startswith("#")]
    names = [line.split(">")[0].split("=")[0].split("~")[0].strip() for line in lines if line.strip()]
    assert "gradio" in names and "edit-handbook" not in names and "edit_handbook" not in names
    # The package itself travels as source beside app.py.
    assert "./" not in "".join(lines) and "file:" not in "".join(lines)


def test_push_is_a_cli_command_and_needs_a_folder_for_models(capsys):
    assert cli.COMMANDS["push"][0] == "edit_handbook.hub.push:main"
    with pytest.raises(SystemExit, match="give the folder"):
        push.main(["captioner", "--repo-id", "me/x"])
