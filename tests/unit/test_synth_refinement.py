"""Human refinement: export for annotators, import edits into SFT and preference data, clear errors."""

import csv
import json
import shutil

import pytest

from edit_handbook.data import schema
from edit_handbook.data.synthetic import generate_dataset
from edit_handbook.synth.refinement import AnnotationError, export_for_annotation, import_annotations


@pytest.fixture(scope="module")
def pairs():
    return generate_dataset(4, image_size=32)


def read_csv(path):
    with open(path, newline="") as file:
        return list(csv.DictReader(file))


def write_csv(path, rows):
    with open(path, "w", newline="") as file:
        writer = csv.DictWriter(file, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)


def test_export_then_import_makes_sft_and_preference_rows(pairs, tmp_path):
    table = export_for_annotation(pairs, tmp_path / "batch", instruction_column=schema.INSTRUCTION)
    rows = read_csv(table)
    assert [row["id"] for row in rows] == pairs[schema.ID]
    assert (tmp_path / "batch" / rows[0]["source_image"]).is_file() and (tmp_path / "batch" / "GUIDE.md").is_file()
    rows[1].update(
        refined_instruction="Mirror the shape so it faces left.", error_type="orientation", severity="critical"
    )
    rows[2].update(keep="no")
    write_csv(table, rows)

    refined = import_annotations(tmp_path / "batch")
    shutil.rmtree(tmp_path / "batch")  # the imported datasets embed their images
    assert refined.counts == {"accepted": 2, "refined": 1, "dropped": 1}
    assert refined.sft[schema.INSTRUCTION] == [
        pairs[0][schema.INSTRUCTION],
        "Mirror the shape so it faces left.",
        pairs[3][schema.INSTRUCTION],
    ]
    (preference,) = refined.preference.to_list()
    assert preference[schema.CHOSEN] == "Mirror the shape so it faces left."
    assert preference[schema.REJECTED] == pairs[1][schema.INSTRUCTION]
    assert (preference[schema.ERROR_TYPE], preference[schema.SEVERITY]) == ("orientation", "critical")
    assert refined.preference[0][schema.SOURCE_IMAGE].size == (32, 32)


def test_jsonl_export_round_trips(pairs, tmp_path):
    table = export_for_annotation(pairs.select(range(2)), tmp_path, file_format="jsonl")
    rows = [json.loads(line) for line in table.read_text().splitlines()]
    rows[0].update(refined_instruction="Something else.", error_type="attribute", severity="minor")
    table.write_text("".join(json.dumps(row) + "\n" for row in rows))
    assert import_annotations(tmp_path).counts == {"accepted": 1, "refined": 1, "dropped": 0}


def test_malformed_edits_are_all_reported_with_line_field_and_fix(pairs, tmp_path):
    table = export_for_annotation(pairs, tmp_path)
    rows = read_csv(table)
    rows[0].update(refined_instruction="Better.", error_type="colour", severity="huge")
    rows[1].update(model_instruction="edited by mistake")
    rows[2].update(error_type="orientation", keep="maybe")
    rows[3].update(refined_instruction="Better.")
    write_csv(table, rows)
    with pytest.raises(AnnotationError) as caught:
        import_annotations(tmp_path)
    message = str(caught.value)
    ids = pairs[schema.ID]
    assert message.startswith("7 problem(s) in")
    assert (
        f"annotations.csv line 2 (id {ids[0]!r}), field 'error_type': 'colour' is not one of orientation, "
        "viewpoint, attribute, other; fix: write one of orientation, viewpoint, attribute, other" in message
    )
    assert f"line 2 (id {ids[0]!r}), field 'severity': 'huge' is not one of minor, major, critical" in message
    assert f"line 3 (id {ids[1]!r}), field 'model_instruction': was changed; fix: restore it" in message
    assert f"line 4 (id {ids[2]!r}), field 'keep': 'maybe' is not yes or no" in message
    assert f"line 4 (id {ids[2]!r}), field 'error_type': is set but the instruction was not refined" in message
    assert f"line 5 (id {ids[3]!r}), field 'error_type': empty is not one of" in message


def test_missing_columns_and_unknown_ids_are_refused(pairs, tmp_path):
    table = export_for_annotation(pairs.select(range(1)), tmp_path)
    rows = read_csv(table)
    write_csv(table, [{k: v for k, v in rows[0].items() if k != "severity"}])
    with pytest.raises(AnnotationError, match=r"missing columns \['severity'\]; fix: keep the exported header"):
        import_annotations(tmp_path)
    write_csv(table, [{**rows[0], "id": "who"}])
    with pytest.raises(AnnotationError, match="field 'id': 'who' is not an exported id"):
        import_annotations(tmp_path)
