"""The run loop's bookkeeping: ids to resume by, outcome counts for the card, the split, the push."""

import datasets

from edit_handbook.synth.engine import SynthesisResult, outcome_counts, push_result, split_by_status, with_ids


def rows(statuses, reasons):
    return datasets.Dataset.from_dict(
        {"id": [str(i) for i in range(len(statuses))], "synthesis_status": statuses, "synthesis_reason": reasons}
    )


def test_rows_without_ids_get_their_index():
    dataset = with_ids(datasets.Dataset.from_dict({"instruction": ["a", "b"]}))
    assert list(dataset["id"]) == ["row-00000000", "row-00000001"]
    kept = datasets.Dataset.from_dict({"id": ["x", "y"]})
    assert with_ids(kept) is kept


def test_outcome_counts_group_reasons_by_kind():
    statuses = ["ok", "rejected", "rejected", "failed", "failed"]
    reasons = [
        "",
        "judge score 2 below threshold 4",
        "judge score 3.5 below threshold 4",
        "unreadable after one repair: not JSON (Expecting value at char 0)",
        "gave up after 6 attempts; last: http_503: busy",
    ]
    assert outcome_counts(rows(statuses, reasons)) == {
        "failed": 2,
        "failed: gave up after N attempts; last": 1,
        "failed: unreadable after one repair": 1,
        "ok": 1,
        "rejected": 2,
        "rejected: judge score N below threshold N": 2,
    }


def test_split_by_status_keeps_every_row_once_even_when_a_split_is_empty(tmp_path):
    split = split_by_status(rows(["ok", "ok"], ["", ""]))
    split.save_to_disk(str(tmp_path))
    reloaded = datasets.load_from_disk(str(tmp_path))
    assert (len(reloaded["train"]), len(reloaded["rejected"])) == (2, 0)


def test_push_uploads_both_splits_then_the_card(tmp_path, monkeypatch):
    calls = []

    class FakeApi:
        def upload_file(self, **kwargs):
            calls.append(("card", kwargs["path_in_repo"], kwargs["repo_id"], kwargs["repo_type"]))
            return type("Commit", (), {"commit_url": "https://hub/commit/1"})()

    monkeypatch.setattr("huggingface_hub.HfApi", FakeApi)
    dataset = split_by_status(rows(["ok", "failed"], ["", "HTTP 400: bad"]))
    monkeypatch.setattr(
        datasets.DatasetDict, "push_to_hub", lambda self, repo_id, private=None: calls.append(("data", list(self)))
    )
    (tmp_path / "README.md").write_text("card")
    result = SynthesisResult(dataset=dataset, counts={}, summary={}, folder=tmp_path)
    assert push_result(result, "me/rectified") == "https://hub/commit/1"
    assert calls == [("data", ["train", "rejected"]), ("card", "README.md", "me/rectified", "dataset")]
