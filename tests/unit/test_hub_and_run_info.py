"""Cards carry what a reader needs (front matter, run_info, citations); pushing calls the Hub API right."""

import json
from types import SimpleNamespace

import pytest
import yaml

from edit_handbook import hub
from edit_handbook.run_info import collect_run_info, fingerprint, write_run_info


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
    card = hub.model_card(
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
        hub.model_card(model_name="x", kind="painter", base_model="a/b")


def test_dataset_card_lists_schema_splits_counts_and_prompt_version():
    card = hub.dataset_card(
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


class RecordingApi:
    def __init__(self):
        self.calls = []

    def __getattr__(self, name):
        def record(*args, **kwargs):
            self.calls.append((name, args, kwargs))
            return SimpleNamespace(commit_url="https://hub/commit/1")

        return record


def test_push_folder_creates_repo_branch_and_uploads(tmp_path):
    hub.write_card(tmp_path, "card")
    api = RecordingApi()
    url = hub.push_folder(tmp_path, "me/model", revision="step-100", private=True, api=api)
    assert url == "https://hub/commit/1"
    names = [name for name, _, _ in api.calls]
    assert names == ["create_repo", "create_branch", "upload_folder"]
    assert api.calls[0][2] == {"repo_type": "model", "private": True, "exist_ok": True}
    assert api.calls[1][2]["branch"] == "step-100"
    upload = api.calls[2][2]
    assert upload["repo_id"] == "me/model" and upload["revision"] == "step-100"
    assert upload["folder_path"] == str(tmp_path)


def test_push_folder_refuses_a_folder_without_card(tmp_path):
    with pytest.raises(FileNotFoundError, match="no README.md card"):
        hub.push_folder(tmp_path, "me/model", api=RecordingApi())


def test_publish_model_writes_run_info_and_card_and_refuses_a_push_without_repo(tmp_path):
    info = {"git_sha": "cafe"}
    assert hub.publish_model(tmp_path, info, kind="captioner", base_model="a/b", datasets=["synthetic"]) is None
    assert json.loads((tmp_path / "run_info.json").read_text()) == info
    card = (tmp_path / "README.md").read_text()
    assert f"# {tmp_path.name}" in card and "cafe" in card and _front_matter(card)["base_model"] == "a/b"
    with pytest.raises(ValueError, match="push_to_hub needs hub_model_id"):
        hub.publish_model(tmp_path, info, kind="captioner", base_model="a/b", datasets=[], push=True)
