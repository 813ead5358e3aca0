"""A study folder resumes only the study that made it: another captioner, data or DPO recipe is refused by name."""

import json

import pytest

from edit_handbook.replicate import STAMP, ReplicationArguments, check_stamp, study_stamp


def _checkpoint(folder, weights: bytes):
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "config.json").write_text("{}")
    (folder / "model.safetensors").write_bytes(weights)
    return folder


def _stamp(tmp_path, weights=b"captioner 1", **settings):
    args = ReplicationArguments(output_dir=str(tmp_path / "study"), **settings)
    training_pairs = {"seed": 0, "image_size": 128, "edit_types": ["move", "pan"]}
    return study_stamp(args, _checkpoint(tmp_path / "ckpt", weights), training_pairs)


def test_the_same_study_resumes_and_its_stamp_is_written_once(tmp_path):
    out = tmp_path / "study"
    check_stamp(out, _stamp(tmp_path))
    written = (out / STAMP).read_text()
    (out / "data").mkdir()
    check_stamp(out, _stamp(tmp_path, arms=["plain"], seeds=[7]))  # arms and seeds may change
    assert (out / STAMP).read_text() == written and json.loads(written)["dpo_args"] == []


@pytest.mark.parametrize(
    ("change", "named"),
    [
        ({"weights": b"captioner 2"}, "sft_checkpoint"),
        ({"preference_pairs": 64}, "preference_data"),
        ({"test_pairs": 512}, "benchmark"),
        ({"dpo_args": ["--max_steps", "80"]}, "dpo_args"),
    ],
)
def test_another_captioner_data_or_dpo_setting_is_refused_by_name(tmp_path, change, named):
    out = tmp_path / "study"
    check_stamp(out, _stamp(tmp_path))
    with pytest.raises(ValueError, match=rf"another {named}: .*--output_dir"):
        check_stamp(out, _stamp(tmp_path, **change))


def test_an_unstamped_folder_with_files_is_refused(tmp_path):
    out = tmp_path / "study"
    (out / "data").mkdir(parents=True)
    with pytest.raises(ValueError, match="no study.json"):
        check_stamp(out, _stamp(tmp_path))
    assert not (out / STAMP).exists()
