"""A CI-sized run of the tiny-see recipe's describe stage reads the images; its blind control cannot.

Both runs start from the CI-sized stage 0 (`see_stage0_ci`) and use
recipes/editcaption/tiny-see/sft/config_describe.yaml as written, fewer steps and pairs; the blind
control adds `dataset_shuffle_images` (every row shows another row's images, the texts unchanged). Scored on fresh
images of the test seed (`evaluation.fresh_pairs.score_descriptions`): the mean of "how many objects" and, per
object left to right, its size, colour, pattern and shape named right. This keeps the recipe's vision path from
rotting: a change that stops the model from seeing the images fails here.
"""

import pytest
from tests.helpers import REPO_ROOT

from edit_handbook.data.synthetic import generate_dataset
from edit_handbook.evaluation.fresh_pairs import describe_images, score_descriptions
from edit_handbook.models import load_vlm
from edit_handbook.sft import main


RECIPE = REPO_ROOT / "recipes" / "editcaption" / "tiny-see" / "sft" / "config_describe.yaml"
STEPS = 150
# Measured on the shared 2-core machine from the CI-sized stage 0 (48 images, 123 objects), the tower at 0.1 of the
# lr as the recipe says: recipe objects 92%, size 63%, colour 50%, pattern 59%, shape 19% (mean 56%); blind control
# 44%, 59%, 15%, 37%, 15% (mean 34%). At the full tower rate the recipe's mean was 50%. The margin is a third of
# the gap.
MARGIN = 0.08


def _train(output_dir, stage0, *extra):
    overrides = ["--max_steps", str(STEPS), "--dataset_synthetic_pairs", "1024", "--logging_steps", "50"]
    overrides += ["--model_name_or_path", str(stage0)]
    # The recipe decays its learning rate over its last 1,000 steps: a 150-step run keeps the stable phase only.
    overrides += ["--lr_scheduler_type", "constant_with_warmup"]
    main(["--config", str(RECIPE), "--output_dir", str(output_dir), *overrides, *extra])
    model, processor = load_vlm(output_dir)
    return model, processor


@pytest.mark.slow
def test_ci_sized_describe_stage_reads_the_images_and_beats_its_blind_control(tmp_path, see_stage0_ci):
    fresh = generate_dataset(24, seed=2026, image_size=128)
    images = list(fresh["source_image"]) + list(fresh["target_image"])
    truths = list(fresh["source_description"]) + list(fresh["target_description"])
    scores = {}
    for name, extra in (("recipe", ()), ("blind", ("--dataset_shuffle_images", "true"))):
        model, processor = _train(tmp_path / name, see_stage0_ci, *extra)
        scores[name] = score_descriptions(describe_images(model, processor, images), truths)
    reading = {name: sum(values.values()) / len(values) for name, values in scores.items()}
    print(scores, reading)
    assert reading["recipe"] >= reading["blind"] + MARGIN, scores
