"""Every source (Hub, manifests, Parquet, save_to_disk, synthetic, in memory) ends in the canonical schema."""

from __future__ import annotations

import csv

import datasets
import pytest
from trl import TrlParser

from edit_handbook.data import schema
from edit_handbook.data.configs import DataArguments
from edit_handbook.data.loading import load_edit_pairs
from edit_handbook.data.validation import DataValidationError


def _check_pairs(dataset: datasets.Dataset, ids: list[str]) -> None:
    assert dataset["id"] == ids
    assert isinstance(dataset.features[schema.SOURCE_IMAGE], datasets.Image)
    assert dataset.features[schema.INSTRUCTION] == datasets.Value("string")
    first = dataset[0]
    assert first[schema.SOURCE_IMAGE].mode == "RGB" and first[schema.SOURCE_IMAGE].size == (24, 16)
    assert first[schema.SOURCE_IMAGE].tobytes() != first[schema.TARGET_IMAGE].tobytes()


def test_jsonl_manifest_paths_are_relative_to_the_manifest(edit_rows, write_jsonl, tmp_path, monkeypatch):
    rows = edit_rows(3)
    rows[0]["origin"] = "camera"
    manifest = write_jsonl(rows)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    dataset, report = load_edit_pairs(str(manifest))
    _check_pairs(dataset, ["pair-0", "pair-1", "pair-2"])
    assert dataset["origin"] == ["camera", None, None]  # extra columns are kept
    assert report.num_kept == 3 and report.source == str(manifest)


def test_folder_with_a_manifest(edit_rows, write_jsonl, tmp_path):
    write_jsonl(edit_rows(2), name="metadata.jsonl")
    dataset, _ = load_edit_pairs(tmp_path)
    _check_pairs(dataset, ["pair-0", "pair-1"])


def test_csv_manifest_with_a_column_mapping(edit_rows, tmp_path):
    rows = edit_rows(3)
    with (tmp_path / "pairs.csv").open("w", newline="") as file:
        writer = csv.writer(file)
        writer.writerow(["id", "before", "after", "prompt"])
        writer.writerows([row["id"], row["source_image"], row["target_image"], row["instruction"]] for row in rows)
    mapping = {"source_image": "before", "target_image": "after", "instruction": "prompt"}
    dataset, _ = load_edit_pairs(tmp_path / "pairs.csv", column_mapping=mapping)
    _check_pairs(dataset, ["pair-0", "pair-1", "pair-2"])
    assert not {"before", "after", "prompt"} & set(dataset.column_names)


def test_csv_empty_cell_is_a_missing_value(edit_rows, tmp_path):
    rows = edit_rows(2)
    with (tmp_path / "pairs.csv").open("w", newline="") as file:
        writer = csv.DictWriter(file, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows([rows[0], {**rows[1], "instruction": ""}])
    with pytest.raises(DataValidationError, match="row 1, column 'instruction': missing value"):
        load_edit_pairs(tmp_path / "pairs.csv")


def test_malformed_manifest_line_is_a_bad_row(edit_rows, write_jsonl):
    manifest = write_jsonl(edit_rows(3))
    lines = manifest.read_text().splitlines()
    manifest.write_text("\n".join([lines[0], '{"id": "pair-1", broken', lines[2]]) + "\n")
    with pytest.raises(DataValidationError, match="row 1, column '<line>': line is not valid JSON"):
        load_edit_pairs(manifest)
    dataset, report = load_edit_pairs(manifest, on_error="skip")
    assert dataset["id"] == ["pair-0", "pair-2"] and report.dropped == {"invalid_json": 1}


def test_parquet_file_and_folder(edit_rows, write_jsonl, tmp_path):
    pairs, _ = load_edit_pairs(write_jsonl(edit_rows(3)))
    (tmp_path / "shards").mkdir()
    pairs.select([0, 1]).to_parquet(tmp_path / "shards" / "a.parquet")
    pairs.select([2]).to_parquet(tmp_path / "shards" / "b.parquet")
    cache = str(tmp_path / "cache")
    single, _ = load_edit_pairs(tmp_path / "shards" / "a.parquet", cache_dir=cache)
    _check_pairs(single, ["pair-0", "pair-1"])
    folder, _ = load_edit_pairs(tmp_path / "shards", cache_dir=cache)
    _check_pairs(folder, ["pair-0", "pair-1", "pair-2"])


def test_save_to_disk_dataset_and_dataset_dict(edit_rows, write_jsonl, tmp_path):
    pairs, _ = load_edit_pairs(write_jsonl(edit_rows(3)))
    pairs.save_to_disk(tmp_path / "saved")
    datasets.DatasetDict({"train": pairs.select([0, 1]), "test": pairs.select([2])}).save_to_disk(tmp_path / "splits")
    _check_pairs(load_edit_pairs(tmp_path / "saved")[0], ["pair-0", "pair-1", "pair-2"])
    _check_pairs(load_edit_pairs(tmp_path / "splits", split="test")[0], ["pair-2"])
    with pytest.raises(ValueError, match="no split 'dev'; the dataset has: train, test"):
        load_edit_pairs(tmp_path / "splits", split="dev")


def test_hub_id_goes_to_load_dataset(monkeypatch, edit_rows, write_jsonl):
    pairs, _ = load_edit_pairs(write_jsonl(edit_rows(2)))
    calls = []

    def fake_load_dataset(path, name=None, *, split, streaming, cache_dir):
        calls.append((path, name, split, streaming))
        return pairs.to_iterable_dataset() if streaming else pairs

    monkeypatch.setattr(datasets, "load_dataset", fake_load_dataset)
    dataset, _ = load_edit_pairs("someone/edit-pairs", split="validation", config_name="v2")
    _check_pairs(dataset, ["pair-0", "pair-1"])
    stream, _ = load_edit_pairs("someone/edit-pairs", streaming=True)
    assert isinstance(stream, datasets.IterableDataset) and [row["id"] for row in stream] == ["pair-0", "pair-1"]
    assert calls == [("someone/edit-pairs", "v2", "validation", False), ("someone/edit-pairs", None, "train", True)]


def test_streaming_a_manifest(edit_rows, write_jsonl):
    dataset, report = load_edit_pairs(write_jsonl(edit_rows(3)), streaming=True)
    assert isinstance(dataset, datasets.IterableDataset)
    rows = list(dataset)
    assert [row["id"] for row in rows] == ["pair-0", "pair-1", "pair-2"]
    assert rows[0][schema.SOURCE_IMAGE].mode == "RGB" and report.num_checked == 3


def test_synthetic_default_source():
    pytest.importorskip("edit_handbook.data.synthetic", reason="the synthetic generator is not in this checkout")
    dataset, report = load_edit_pairs("synthetic", synthetic_pairs=4, seed=1)
    assert len(dataset) == 4 and report.num_checked == 4 and not report.dropped
    assert dataset[0][schema.SOURCE_IMAGE].mode == "RGB" and dataset[0][schema.NEGATIVES]
    preferences, _ = load_edit_pairs("synthetic", synthetic_pairs=2, kind="preference")
    assert set(schema.REQUIRED_PREFERENCE_COLUMNS) <= set(preferences.column_names)


def test_one_source_column_can_feed_two_canonical_columns(edit_rows, write_jsonl):
    rows = [{**row, "prompt": row.pop("instruction")} for row in edit_rows(2)]
    mapping = {"instruction": "prompt", "rectified_instruction": "prompt"}
    dataset, _ = load_edit_pairs(write_jsonl(rows), column_mapping=mapping)
    assert dataset[schema.INSTRUCTION] == dataset[schema.RECTIFIED] == [row["prompt"] for row in rows]
    assert "prompt" not in dataset.column_names


def test_mapping_keys_must_be_canonical(edit_rows, write_jsonl):
    with pytest.raises(ValueError, match=r"keys must be canonical column names, got \['prompt'\]"):
        load_edit_pairs(write_jsonl(edit_rows(1)), column_mapping={"prompt": "instruction"})


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"kind": "triplet"}, "kind='triplet'; choose one of: edit, preference"),
        ({"validation": "some"}, "validation='some'; choose one of: full, sample, off"),
        ({"on_error": "ignore"}, "on_error='ignore'; choose one of: raise, skip"),
    ],
)
def test_bad_options_are_rejected(kwargs, message):
    with pytest.raises(ValueError, match=message):
        load_edit_pairs("synthetic", **kwargs)


def test_missing_local_path_is_not_sent_to_the_hub(tmp_path):
    with pytest.raises(FileNotFoundError, match="no such file"):
        load_edit_pairs(str(tmp_path / "nothing.jsonl"))
    with pytest.raises(ValueError, match="give a source"):
        load_edit_pairs()


def test_data_arguments_parse_from_yaml_and_cli(tmp_path):
    config = tmp_path / "recipe.yaml"
    config.write_text("dataset_preset: magicbrush\ndataset_column_mapping:\n  instruction: human_instruction\n")
    parser = TrlParser((DataArguments,))
    (args,) = parser.parse_args_and_config(["--config", str(config), "--dataset_on_error", "skip"])
    kwargs = args.load_kwargs()
    assert kwargs["source"] is None and kwargs["preset"] == "magicbrush" and kwargs["split"] is None
    assert kwargs["column_mapping"] == {"instruction": "human_instruction"} and kwargs["on_error"] == "skip"
    (args,) = TrlParser((DataArguments,)).parse_args_and_config(
        ["--dataset_column_mapping", '{"instruction": "prompt"}']
    )
    assert args.load_kwargs()["column_mapping"] == {"instruction": "prompt"}
    assert args.load_kwargs("test")["source"] == "synthetic" and args.load_kwargs("test")["split"] == "test"
    assert set(args.load_kwargs()) <= set(load_edit_pairs.__kwdefaults__) | {"source"}
