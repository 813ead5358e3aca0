"""Cards carry what a reader needs (front matter, run_info, citations); pushing calls the Hub API right."""

import json

import pytest
import yaml
from tests.helpers import FakeHubApi

from edit_handbook.hub import cards, publish
from edit_handbook.hub.run_info import collect_run_info, fingerprint, write_run_info


def _front_matter(card: str) -> dict:
    assert card.startswith("---\n")
    return yaml.safe_load(card.split("---\n")[1])


def test_run_info_records_code_versions_config_and_data(tmp_path):
    info = collect_run_info({"lr": 1e-4, "steps": [1, 2]}, data_fingerprint="abc123", note="x")
    assert info["config"] == {"lr": 1e-4, "steps": [1, 2]}
    assert info["data_fingerprint"] == "abc123" and info["note"] == "x"
    assert {"torch", "transformers", "datasets"} <= set(info["packages"])
    assert info["git_sha"]
    path = write_run_info(tmp_path / "artifact", info)
    assert json.loads(path.read_text()) == info


def test_fingerprint_is_stable_and_sensitive():
    assert fingerprint("model", {"a": 1, "b": 2}) == fingerprint("model", {"b": 2, "a": 1})
    assert fingerprint("model", {"a": 1}) != fingerprint("model", {"a": 2})


def test_model_card_has_front_matter_sections_and_run_info():
    card = cards.model_card(
        model_name="edit-captioner-2b",
        kind="captioner",
        base_model="Qwen/Qwen3-VL-2B-Instruct",
        datasets=["limingcv/SuperEdit-40K", "synthetic (local)"],
        recipe_config={"learning_rate": 1e-5},
        metrics_markdown="| metric | value |\n|---|---|\n| accuracy | 0.9 |",
        example_grid="examples.png",
        run_info={"git_sha": "deadbeef"},
    )
    meta = _front_matter(card)
    assert meta["base_model"] == "Qwen/Qwen3-VL-2B-Instruct"
    assert meta["datasets"] == ["limingcv/SuperEdit-40K"]  # only Hub ids are indexed
    assert meta["pipeline_tag"] == "image-text-to-text" and meta["license"] == "apache-2.0"
    for section in (
        "## Training data",
        "## Recipe",
        "## Evaluation",
        "## Intended use",
        "## Limitations",
        "## Citation",
    ):
        assert section in card
    assert "2505.02370" in card and "2604.08213" in card and "deadbeef" in card and "| accuracy | 0.9 |" in card


def test_model_card_rejects_unknown_kind():
    with pytest.raises(ValueError, match="kind must be one of"):
        cards.model_card(model_name="x", kind="painter", base_model="a/b")


def test_dataset_card_lists_schema_splits_counts_and_prompt_version():
    card = cards.dataset_card(
        name="pairs",
        description="desc",
        columns={"source_image": "image", "instruction": "string"},
        num_rows={"train": 1200},
        provenance="made here",
        prompt_version="rectify-v1",
        counts={"ok": 1100, "failed": 100},
    )
    assert _front_matter(card)["size_categories"] == ["1K<n<10K"]
    assert "| `source_image` | image |" in card and "| train | 1200 |" in card
    assert "`rectify-v1`" in card and "| failed | 100 |" in card


def test_push_folder_creates_repo_branch_from_the_first_commit_and_uploads(tmp_path):
    cards.write_card(tmp_path, "card")
    (tmp_path / "model.safetensors").write_bytes(b"w")
    (tmp_path / "checkpoint-5").mkdir()
    (tmp_path / "checkpoint-5" / "optimizer.pt").write_bytes(b"o")
    api = FakeHubApi()
    url = publish.push_folder(
        tmp_path, "me/model", revision="step-100", private=True, ignore_patterns=publish.MODEL_FOLDER_IGNORE, api=api
    )
    assert url == "https://hub/me/model/commit/1"
    assert [name for name, _, _ in api.calls] == ["create_repo", "list_repo_commits", "create_branch", "upload_folder"]
    assert api.call("create_repo") == {"repo_type": "model", "private": True, "exist_ok": True}
    assert api.call("create_branch") == {
        "branch": "step-100",
        "revision": "initial",
        "repo_type": "model",
        "exist_ok": True,
    }
    upload = api.call("upload_folder")
    assert upload["repo_id"] == "me/model" and upload["revision"] == "step-100" and upload["repo_type"] == "model"
    assert upload["folder_path"] == str(tmp_path)
    assert api.uploads == [["README.md", "model.safetensors"]]  # the checkpoint's optimizer state stays local


def test_push_folder_without_revision_uploads_to_main_and_creates_a_space_with_its_sdk(tmp_path):
    cards.write_card(tmp_path, "---\ntitle: demo\nsdk: gradio\n---\n# demo\n")
    api = FakeHubApi()
    publish.push_folder(tmp_path, "me/space", repo_type="space", api=api)
    assert [name for name, _, _ in api.calls] == ["create_repo", "upload_folder"]
    assert api.call("create_repo")["space_sdk"] == "gradio"
    assert api.call("upload_folder")["revision"] is None


def test_push_folder_refuses_a_folder_without_card(tmp_path):
    with pytest.raises(FileNotFoundError, match="no README.md card"):
        publish.push_folder(tmp_path, "me/model", api=FakeHubApi())


def test_publish_model_writes_run_info_and_card_and_refuses_a_push_without_repo(tmp_path):
    info = {"git_sha": "cafe"}
    assert publish.publish_model(tmp_path, info, kind="captioner", base_model="a/b", datasets=["synthetic"]) is None
    assert json.loads((tmp_path / "run_info.json").read_text()) == info
    card = (tmp_path / "README.md").read_text()
    assert f"# {tmp_path.name}" in card and "cafe" in card and _front_matter(card)["base_model"] == "a/b"
    with pytest.raises(ValueError, match="push_to_hub needs hub_model_id"):
        publish.publish_model(tmp_path, info, kind="captioner", base_model="a/b", datasets=[], push=True)


def test_read_card_parses_what_model_card_writes(tmp_path):
    cards.write_card(
        tmp_path,
        cards.model_card(
            model_name="me/cap",
            kind="captioner",
            base_model="Qwen/Qwen3-VL-2B-Instruct",
            datasets=["limingcv/SuperEdit-40K"],
            metrics_markdown="| metric | value |\n|---|---|\n| score | 4.5 |",
            example_grid="examples.png",
            example_note="Each tile: a pair.",
            recipe_file="recipes/editcaption/qwen3-vl-2b/sft/config_full.yaml",
            repo_id="me/cap",
        ),
    )
    card = cards.read_card(tmp_path)
    assert card.meta["base_model"] == "Qwen/Qwen3-VL-2B-Instruct" and card.title == "me/cap"
    assert card.sections["Evaluation"] == "| metric | value |\n|---|---|\n| score | 4.5 |"
    assert card.sections["Examples"] == "![examples](examples.png)\n\nEach tile: a pair."
    assert "`recipes/editcaption/qwen3-vl-2b/sft/config_full.yaml`" in card.sections["Recipe"]
    assert 'from_pretrained("me/cap"' in card.sections["How to use"] and "describe_edit" in card.sections["How to use"]
    assert "2505.02370" in card.sections["Citation"] and "2604.08213" in card.sections["Citation"]
    assert cards.read_card(tmp_path / "missing") is None


@pytest.mark.parametrize(
    ("config", "expected_base", "expected_data"),
    [
        (  # sft.py
            {
                "script": {"dataset_name": None, "dataset_preset": "superedit-40k"},
                "model": {"model_name_or_path": "Qwen/Qwen3-VL-8B-Instruct"},
            },
            "Qwen/Qwen3-VL-8B-Instruct",
            ["limingcv/SuperEdit-40K"],
        ),
        (  # dpo.py: the policy starts from a local SFT folder, base_model names the Hub architecture
            {
                "script": {"dataset_name": "me/prefs", "base_model": "Qwen/Qwen3-VL-2B-Instruct"},
                "model": {"model_name_or_path": "outputs/sft"},
            },
            "Qwen/Qwen3-VL-2B-Instruct",
            ["me/prefs"],
        ),
        (  # train_superedit.py: one section per config class
            {
                "DataArguments": {"dataset_name": "synthetic"},
                "SuperEditModelArguments": {"pretrained_model_name_or_path": "timbrooks/instruct-pix2pix"},
            },
            "timbrooks/instruct-pix2pix",
            ["synthetic"],
        ),
    ],
)
def test_card_inputs_read_every_training_scripts_run_info(config, expected_base, expected_data):
    info = {"config": config, "command": "src/edit_handbook/sft.py --config recipes/a/b.yaml --learning_rate 1e-5"}
    inputs = cards.card_inputs(info)
    assert inputs == {"base_model": expected_base, "datasets": expected_data, "recipe_file": "recipes/a/b.yaml"}
    assert cards.card_inputs({}) == {"base_model": None, "datasets": [], "recipe_file": None}


def test_is_hub_id_accepts_owner_name_only(tmp_path):
    assert cards.is_hub_id("Qwen/Qwen3-VL-2B-Instruct")
    assert not cards.is_hub_id("tiny-qwen3-vl-synthetic") and not cards.is_hub_id(None)
    (tmp_path / "outputs" / "sft").mkdir(parents=True)
    assert not cards.is_hub_id(str(tmp_path / "outputs" / "sft"))
