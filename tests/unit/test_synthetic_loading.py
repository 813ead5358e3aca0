"""Loading synthetic pairs for evaluation as a user would: a `generate` output folder as written, and fresh
pairs restricted to some edit types and an image size through the same data arguments every script uses."""

from edit_handbook.data.configs import DataArguments
from edit_handbook.data.loading import GENERATED_SUBFOLDER, load_edit_pairs
from edit_handbook.data.synthetic import generate_dataset
from edit_handbook.evaluation.benchmarks import load_pairs


def test_a_generate_output_folder_loads_as_written(tmp_path):
    pairs = generate_dataset(4, seed=7, image_size=32, edit_types=("move", "tilt"))
    pairs.save_to_disk(str(tmp_path / GENERATED_SUBFOLDER))
    (tmp_path / "README.md").write_text("card")  # what `generate` writes beside the dataset
    loaded = load_pairs({"source": str(tmp_path)})
    assert loaded["id"] == pairs["id"] and loaded["edit_spec"] == pairs["edit_spec"]


def test_fresh_synthetic_pairs_follow_edit_types_and_image_size():
    args = DataArguments(
        dataset_name="synthetic",
        dataset_seed=2026,
        dataset_synthetic_pairs=4,
        dataset_synthetic_edit_types=["pan", "remove"],
        dataset_synthetic_image_size=40,
    )
    pairs, _ = load_edit_pairs(**args.load_kwargs())
    assert pairs["edit_type"] == ["pan", "remove", "pan", "remove"]
    assert pairs[0]["source_image"].size == (40, 40)
    assert pairs["id"][0] == "synthetic-2026-000000"
