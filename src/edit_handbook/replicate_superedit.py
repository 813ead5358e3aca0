"""`edit-handbook replicate superedit --config recipes/superedit/replication/config_cpu.yaml`.

SuperEdit's two claims at tutorial scale, measured from the pixels. Every arm trains the tutorial editor's UNet
(`edit-handbook tutorial-editor`, the recipe in `recipe`) from scratch on the same synthetic pairs, on the same
frozen VAE and text encoder (the shipped tutorial editor's), for the same steps; seeds vary the UNet's start and
data order. Arms:
- (a) instructions: `reference` (the generator's exact instructions), `rectified` (its rectified descriptions,
  SuperEdit's four-aspect style), `noisy` (the reference with `noisy_share` of them replaced by one of the
  generator's flawed instructions, as real datasets are partly wrong);
- (b) the triplet loss: `reference_triplet` = `reference` plus SuperEdit's triplet term on the generator's
  single-attribute negatives (same style as the positive: one word differs), switched on at
  `triplet_start_fraction` of the run's steps (the paper's 2,000 of its steps, scaled to this run's length).
Every editor edits the same fresh pairs (`test_seed`, used for nothing else) with reference instructions and is
scored by `evaluation.synthetic_editing`; `superedit.study` summarises (seeds x items bootstrap) and writes
report.md / report.json / rates.png. Resumable: a finished arm's editor and scores are reused.
"""

from __future__ import annotations

import logging
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

from accelerate.state import AcceleratorState, GradientState

from edit_handbook.replicate import cached_json, check_stamp, run_context
from edit_handbook.script_utils import LOG_FORMAT, ScriptParser, run_reporting_errors


logger = logging.getLogger(__name__)
# Arm -> (instruction column, triplet term on).
ARMS = {
    "reference": ("instruction", False),
    "rectified": ("rectified_instruction", False),
    "noisy": ("noisy_instruction", False),
    "reference_triplet": ("instruction", True),
}
NEVER = 10**9


@dataclass
class SuperEditReplicationArguments:
    """The study: which recipe, which arms and seeds, which benchmark."""

    output_dir: str = field(default="outputs/replication/superedit", metadata={"help": "Study folder."})
    recipe: str = field(
        default="recipes/superedit/tutorial-editor/tutorial/config_cpu.yaml",
        metadata={"help": "The tutorial-editor recipe every arm trains with (its pairs, steps, optimiser)."},
    )
    recipe_args: list[str] = field(
        default_factory=list, metadata={"help": "Extra recipe flags for every arm, e.g. --max_train_steps 1500."}
    )
    base: str | None = field(
        default=None,
        metadata={
            "help": "Folder whose VAE and text encoder every arm reuses (default: the shipped tutorial editor)."
        },
    )
    arms: list[str] = field(
        default_factory=lambda: list(ARMS), metadata={"help": f"Arms to run, from {', '.join(ARMS)}."}
    )
    seeds: list[int] = field(default_factory=lambda: [0, 1], metadata={"help": "Training seeds (UNet start, order)."})
    noisy_share: float = field(default=0.4, metadata={"help": "Share of flawed instructions in the noisy arm."})
    triplet_start_fraction: float = field(
        default=0.5, metadata={"help": "The triplet term starts at this fraction of max_train_steps."}
    )
    test_pairs_per_type: int = field(default=20, metadata={"help": "Fresh test pairs per edit type."})
    test_seed: int = field(default=3001, metadata={"help": "Seed of the test pairs: used for nothing else."})
    test_steps: int = field(default=20, metadata={"help": "Denoising steps of the test edits."})
    num_resamples: int = field(default=1000, metadata={"help": "Bootstrap resamples."})

    def __post_init__(self) -> None:
        unknown = sorted(set(self.arms) - set(ARMS))
        if unknown:
            raise ValueError(f"unknown arms {unknown}; choose from {', '.join(ARMS)}")
        if not self.seeds:
            raise ValueError("seeds must name at least one training seed")
        if not 0.0 <= self.triplet_start_fraction < 1.0:
            raise ValueError(f"triplet_start_fraction must be in [0, 1), got {self.triplet_start_fraction}")


def make_parser() -> ScriptParser:
    return ScriptParser((SuperEditReplicationArguments,))


def arm_configs(arm: str, seed: int, args: SuperEditReplicationArguments, folder: Path, base: str):
    """The tutorial-editor configs of one (arm, seed): the recipe, the study's flags, the arm's column and
    triplet start."""
    from edit_handbook.tutorial_editor import make_parser as recipe_parser

    column, triplet = ARMS[arm]
    argv = [
        "--config", args.recipe, *args.recipe_args, "--output_dir", str(folder), "--tutorial_base", base,
        "--seed", str(seed), "--instruction_column", column, "--tutorial_eval_pairs_per_type", "0",
        "--checkpointing_steps", "0", "--tutorial_noisy_share", str(args.noisy_share if arm == "noisy" else 0.0),
    ]  # fmt: skip
    configs = recipe_parser().parse_args_and_config(argv)
    loss, training = configs[3], configs[5]
    loss.triplet_start_step = round(args.triplet_start_fraction * training.max_train_steps) if triplet else NEVER
    return configs


def run_arm(arm: str, seed: int, args: SuperEditReplicationArguments, out: Path, base: str) -> list[dict]:
    """Train (unless already trained) and score one (arm, seed); returns the scored items."""
    from edit_handbook.evaluation.synthetic_editing import evaluate_synthetic_editing
    from edit_handbook.superedit.tutorial import TUTORIAL_EDIT_TYPES
    from edit_handbook.tutorial_editor import train_and_score

    folder = out / f"seed{seed}" / arm

    def score() -> list[dict]:
        if not (folder / "unet" / "config.json").is_file():
            logger.info("training %s, seed %d", arm, seed)
            train_and_score(arm_configs(arm, seed, args, folder, base))
            AcceleratorState._reset_state(True)
            GradientState._reset_state()
        logger.info("scoring %s, seed %d", arm, seed)
        result = evaluate_synthetic_editing(
            str(folder), folder / "test", pairs_per_type=args.test_pairs_per_type, edit_types=TUTORIAL_EDIT_TYPES,
            pair_seed=args.test_seed, steps=args.test_steps, system=f"{arm}-seed{seed}", num_resamples=0,
        )  # fmt: skip
        return result.items

    return cached_json(folder / "scores.json", score)


def study_stamp(args: SuperEditReplicationArguments, base: str) -> dict:
    """Everything the cached arms depend on (the recipe, the base's weights, the arms' and the test's settings)."""
    import hashlib

    from edit_handbook.editcaption.reference_pass import model_fingerprint

    parts = sorted(part for part in Path(base).iterdir() if (part / "config.json").is_file())
    return {
        "recipe": hashlib.sha256(Path(args.recipe).read_bytes()).hexdigest(),
        "recipe_args": list(args.recipe_args),
        "base": {part.name: model_fingerprint(part) for part in parts},
        "arms": [args.noisy_share, args.triplet_start_fraction],
        "benchmark": [args.test_pairs_per_type, args.test_seed, args.test_steps],
    }


def run_study(args: SuperEditReplicationArguments) -> dict:
    from edit_handbook.fixtures import tutorial_editor_checkpoint
    from edit_handbook.superedit.study import summarise, write_report

    start = time.perf_counter()
    out = Path(args.output_dir)
    base = args.base or str(tutorial_editor_checkpoint())
    check_stamp(out, study_stamp(args, base))
    arms = {arm: [run_arm(arm, seed, args, out, base) for seed in args.seeds] for arm in args.arms}
    summary = summarise(arms, num_resamples=args.num_resamples)
    configs = arm_configs(args.arms[0], args.seeds[0], args, out / "unused", base)
    training = configs[5]
    design = (
        f"Every arm: the tutorial recipe's UNet trained from scratch for {training.max_train_steps} steps of batch "
        f"{training.per_device_train_batch_size} on {configs[0].tutorial_train_pairs} synthetic pairs (pair seed "
        f"{configs[0].tutorial_pairs_seed}), frozen VAE and text encoder from {Path(base).name}; seeds {args.seeds} "
        f"vary the UNet start and data order. noisy: {args.noisy_share:.0%} of instructions replaced by flawed ones. "
        f"reference_triplet: triplet term from step {round(args.triplet_start_fraction * training.max_train_steps)}. "
        f"Test: {args.test_pairs_per_type} fresh pairs per edit type (seed {args.test_seed}), reference instructions, "
        f"{args.test_steps} DDIM steps, text guidance 3, image guidance 1.5, sampling seed 42."
    )
    context = {**run_context(time.perf_counter() - start), "design": design, "settings": asdict(args)}
    return write_report(out, summary, context)


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    (args,) = make_parser().parse_args_and_config(argv)
    logging.basicConfig(format=LOG_FORMAT, level=logging.INFO)
    logger.setLevel(logging.INFO)
    run_study(args)
    print((Path(args.output_dir) / "report.md").read_text())
    return 0


if __name__ == "__main__":
    sys.exit(run_reporting_errors(main))
