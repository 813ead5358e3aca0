"""`edit-handbook replicate editcaption --config recipes/editcaption/replication/config_cpu.yaml`
(and `replicate superedit`, in `replicate_superedit.py`, which shares `cached_json` and `run_context`).

EditCaption's claim, measured (docs/editcaption_study.md): from one SFT captioner, DPO arms (plain, margin-only,
sampler-only, full HAE; optionally plain DPO on the generator's flawed instructions) for several seeds, all on
the same preference pairs of the captioner's own mistakes on training pairs, all scored on one fresh test
benchmark. Resumable: data, the SFT scores and every finished (seed, arm) are kept in `output_dir` and reused.
"""

from __future__ import annotations

import json
import logging
import os
import platform
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import datasets
import torch
from tqdm.auto import tqdm

from edit_handbook.script_utils import LOG_FORMAT, ScriptParser, run_reporting_errors


logger = logging.getLogger(__name__)
# Arm -> DPO flags on top of the DPO recipe (which holds the full HAE settings).
ARMS = {
    "plain": ["--margin_gamma", "0", "--hard_example_sampler", "false"],
    "margin_only": ["--hard_example_sampler", "false"],
    "sampler_only": ["--margin_in_loss", "false", "--hard_example_sampler", "true"],
    "hae": ["--hard_example_sampler", "true"],
    "plain_flawed": ["--margin_gamma", "0", "--hard_example_sampler", "false"],  # on the flawed instructions
}
FLAWED_ARMS = ("plain_flawed",)
STAMP = "study.json"  # what the cached data and arms in a study folder were made from


@dataclass
class ReplicationArguments:
    """The study: which captioner, which data, which arms and seeds, which benchmark."""

    output_dir: str = field(default="outputs/replication/editcaption", metadata={"help": "Study folder."})
    sft_recipe: str = field(
        default="recipes/editcaption/tiny-see/sft/config_caption.yaml",
        metadata={"help": "SFT recipe of the captioner: its training pairs (seed, size, edit types) give the data."},
    )
    sft_checkpoint: str | None = field(
        default="tiny:see-captioner",
        metadata={"help": "The SFT checkpoint made by sft_recipe (a folder or a tiny: name); null: train sft_recipe."},
    )
    dpo_recipe: str = field(
        default="recipes/editcaption/tiny-see/dpo/config_dpo.yaml",
        metadata={"help": "DPO recipe every arm starts from (its margin and sampler settings are full HAE's)."},
    )
    dpo_args: list[str] = field(
        default_factory=list, metadata={"help": "Extra DPO flags for every arm, e.g. --max_steps 80 --rpo_alpha 1."}
    )
    arms: list[str] = field(
        default_factory=lambda: ["plain", "margin_only", "sampler_only", "hae"],
        metadata={"help": f"Arms to run, from {', '.join(ARMS)}."},
    )
    seeds: list[int] = field(default_factory=lambda: [0, 1, 2], metadata={"help": "DPO seeds (data order)."})
    preference_pairs: int = field(
        default=128,
        metadata={"help": "Training pairs (the SFT recipe's stream, its first pairs included) to make data from."},
    )
    preference_samples: int = field(default=4, metadata={"help": "Sampled outputs per pair, beside greedy."})
    preference_temperature: float = field(default=1.0, metadata={"help": "Sampling temperature of those."})
    test_pairs: int = field(default=256, metadata={"help": "Fresh test pairs (>= 256 for the study)."})
    test_seed: int = field(default=7919, metadata={"help": "Seed of the test pairs: used for nothing else."})
    validation_seed: int = field(default=4001, metadata={"help": "Seed of the validation pairs (tuning)."})
    benchmark: str = field(
        default="test", metadata={"help": "'test' for the study; 'validation' to tune (scores validation pairs)."}
    )
    held_out_samples: int = field(
        default=1, metadata={"help": "Sampled SFT outputs per benchmark pair for the held-out preference pairs."}
    )
    num_resamples: int = field(default=1000, metadata={"help": "Bootstrap resamples."})
    batch_size: int = field(default=64, metadata={"help": "Generation and scoring batch size."})

    def __post_init__(self) -> None:
        unknown = sorted(set(self.arms) - set(ARMS))
        if unknown:
            raise ValueError(f"unknown arms {unknown}; choose from {', '.join(ARMS)}")
        if self.benchmark not in ("test", "validation"):
            raise ValueError(f"benchmark must be 'test' or 'validation', got {self.benchmark!r}")
        if self.test_seed == self.validation_seed:
            raise ValueError("test_seed and validation_seed must differ: the test seed is used for nothing else")


def make_parser() -> ScriptParser:
    return ScriptParser((ReplicationArguments,))


def _recipe(path: str) -> dict:
    import yaml

    return yaml.safe_load(Path(path).read_text())


def _save(dataset: datasets.Dataset, folder: Path) -> Path:
    if not (folder / "dataset_info.json").is_file():
        dataset.save_to_disk(str(folder))
    return folder


def cached_json(path: Path, make):
    """The JSON at `path`, made by `make()` and written there the first time: how a study resumes."""
    if path.is_file():
        return json.loads(path.read_text())
    value = make()
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(value))
    return value


def study_stamp(args: ReplicationArguments, checkpoint: Path, training_pairs: dict) -> dict:
    """Everything the cached data, SFT scores and arms depend on; arms, seeds and resamples may change freely.
    `training_pairs`: the seed and shape the study draws the SFT recipe's training pairs with."""
    import hashlib

    from edit_handbook.editcaption.reference_pass import model_fingerprint

    return {
        "sft_checkpoint": model_fingerprint(checkpoint),
        "training_pairs": training_pairs,
        "preference_data": [args.preference_pairs, args.preference_samples, args.preference_temperature],
        "benchmark": [args.test_pairs, args.test_seed, args.validation_seed, args.held_out_samples],
        "dpo_recipe": hashlib.sha256(Path(args.dpo_recipe).read_bytes()).hexdigest(),
        "dpo_args": list(args.dpo_args),
    }


def check_stamp(out: Path, stamp: dict) -> None:
    """Refuse to resume a study folder made from another captioner, data or DPO recipe (after a pull that ships a
    new checkpoint, say): its cached preference pairs, scores and arms would silently mix with this run's."""
    path = out / STAMP
    if path.is_file():
        found = json.loads(path.read_text())
        changed = sorted(key for key in stamp.keys() | found.keys() if found.get(key) != stamp.get(key))
        if changed:
            raise ValueError(
                f"{out} holds a study made with another {', '.join(changed)}: its cached data and arms would mix "
                f"with this run's. Use a new output_dir (`--output_dir`), or delete {out} to start over."
            )
        return
    if out.is_dir() and any(out.iterdir()):
        raise ValueError(
            f"{out} holds files but no {STAMP} (a study made before studies were stamped, or another job): what "
            f"made them cannot be checked. Use a new output_dir (`--output_dir`), or delete {out} to start over."
        )
    out.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(stamp, indent=2) + "\n")


def _prepare(args: ReplicationArguments, out: Path) -> dict:
    """SFT checkpoint, benchmark pairs, preference data (own mistakes, flawed) and held-out pairs; cached."""
    from edit_handbook.data.synthetic import generate_dataset, preference_pairs
    from edit_handbook.editcaption.own_mistakes import own_mistake_pairs
    from edit_handbook.editcaption.preference_data import to_preference_examples
    from edit_handbook.fixtures import smoke_checkpoint
    from edit_handbook.models import load_vlm
    from edit_handbook.models.registry import resolve_model

    sft = _recipe(args.sft_recipe)
    train_seed = sft.get("dataset_seed", 0)
    if train_seed in (args.test_seed, args.validation_seed):
        raise ValueError(f"the SFT training seed {train_seed} must differ from the test and validation seeds")
    shape = {"image_size": sft["dataset_synthetic_image_size"], "edit_types": sft.get("dataset_synthetic_edit_types")}
    checkpoint = (
        Path(resolve_model(args.sft_checkpoint))
        if args.sft_checkpoint
        else smoke_checkpoint(recipe=Path(args.sft_recipe))
    )
    check_stamp(out, study_stamp(args, checkpoint, {"seed": train_seed, **shape}))
    model, processor = load_vlm(checkpoint, dtype=torch.float32)
    bench_seed = args.test_seed if args.benchmark == "test" else args.validation_seed
    bench = generate_dataset(args.test_pairs, seed=bench_seed, **shape)
    data = out / "data"
    training = generate_dataset(args.preference_pairs, seed=train_seed, **shape)

    def own():
        rows, summary = own_mistake_pairs(
            model,
            processor,
            training,
            samples=args.preference_samples,
            temperature=args.preference_temperature,
            seed=train_seed,
            batch_size=args.batch_size,
        )
        _save(rows, data / "own")
        return summary

    own_summary = cached_json(data / "own_summary.json", own)
    if any(arm in FLAWED_ARMS for arm in args.arms):
        _save(preference_pairs(training), data / "flawed")

    def held_out():
        rows, summary = own_mistake_pairs(
            model, processor, bench, samples=args.held_out_samples, seed=bench_seed, batch_size=args.batch_size
        )
        _save(rows, data / f"held_out_{args.benchmark}")
        return summary

    held_summary = cached_json(data / f"held_out_{args.benchmark}_summary.json", held_out)
    held_examples = to_preference_examples(datasets.load_from_disk(str(data / f"held_out_{args.benchmark}")))
    return {
        "checkpoint": checkpoint,
        "model": model,
        "processor": processor,
        "benchmark": bench,
        "held_out": held_examples,
        "summary": {"own_mistakes": own_summary, "held_out": held_summary, "benchmark_seed": bench_seed},
    }


def _score(folder: Path, prepared: dict, args: ReplicationArguments, model=None) -> dict:
    from edit_handbook.editcaption.study import score_captioner
    from edit_handbook.models import load_vlm

    def make():
        policy, processor = (
            (model, prepared["processor"]) if model is not None else load_vlm(folder, dtype=torch.float32)
        )
        return score_captioner(
            policy, processor, prepared["benchmark"], prepared["held_out"], batch_size=args.batch_size
        )

    return cached_json(folder / f"scores_{args.benchmark}.json", make)


def _run_arm(arm: str, seed: int, args: ReplicationArguments, out: Path, prepared: dict) -> dict:
    from edit_handbook.dpo import main as dpo_main

    folder = out / f"seed{seed}" / arm
    scores = folder / f"scores_{args.benchmark}.json"
    if scores.is_file():
        return json.loads(scores.read_text())
    data = "flawed" if arm in FLAWED_ARMS else "own"
    with tqdm(total=2, desc=f"{arm} seed {seed}", unit="stage", leave=True) as bar:
        if not (folder / "model.safetensors").is_file():
            bar.set_postfix_str("DPO")
            dpo_main(
                [
                    "--config", args.dpo_recipe,
                    "--model_name_or_path", str(prepared["checkpoint"]),
                    "--output_dir", str(folder),
                    "--dataset_name", str(out / "data" / data),
                    "--dataset_kind", "preference",
                    "--reference_dir", str(out / "reference" / data),
                    "--seed", str(seed),
                    "--data_seed", str(seed),
                    "--disable_tqdm", "false",
                    *args.dpo_args,
                    *ARMS[arm],
                ]
            )  # fmt: skip
        bar.update()
        bar.set_postfix_str("scoring")
        result = _score(folder, prepared, args)
        bar.update()
    return result


def training_diagnostics(out: Path, arms: list[str], seeds: list[int]) -> dict:
    """Last logged training metrics per arm and seed: the margin m against beta * delta, chosen reward, accuracy."""
    keys = ("hae/margin", "rewards/margins", "rewards/chosen", "rewards/accuracies", "loss")
    table: dict = {}
    for arm in arms:
        for seed in seeds:
            path = out / f"seed{seed}" / arm / "trainer_state.json"
            if path.is_file():
                history = [e for e in json.loads(path.read_text())["log_history"] if "rewards/margins" in e]
                if history:
                    table.setdefault(arm, {})[seed] = {key: history[-1].get(key) for key in keys}
    return table


def hae_room(out: Path, args: ReplicationArguments) -> dict | None:
    """`study.hae_spread` on the own-mistake training pairs with the DPO recipe's full-HAE settings."""
    from edit_handbook.data.writer import load_shards
    from edit_handbook.dpo import make_parser as dpo_parser
    from edit_handbook.editcaption.hae_trainer import with_margins
    from edit_handbook.editcaption.preference_data import to_preference_examples
    from edit_handbook.editcaption.reference_pass import REF_GAP, attach_reference
    from edit_handbook.editcaption.study import hae_spread

    reference = out / "reference" / "own" / "train"
    if not reference.is_dir():
        return None
    _, margin, sampler, *_ = dpo_parser().parse_args_and_config(
        ["--config", args.dpo_recipe, "--output_dir", str(out / "hae_room"), *args.dpo_args]
    )
    rows = load_shards(reference)
    examples = to_preference_examples(datasets.load_from_disk(str(out / "data" / "own")))
    wanted = {row_id: k for k, row_id in enumerate(examples["id"])}
    examples = attach_reference(examples.select([wanted[row_id] for row_id in rows["id"]]), rows)
    _, margins = with_margins(examples, margin)
    return hae_spread(
        examples[REF_GAP],
        margins,
        temperature=sampler.sampler_temperature,
        uniform_mix=sampler.sampler_uniform_mix,
        eps=sampler.sampler_eps,
    )


def run_context(seconds: float) -> dict:
    """What every study report records about its run: commit, date, machine, threads, library versions, time."""
    from edit_handbook.hub.run_info import git_sha, package_versions

    return {
        "commit": git_sha(),
        "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        "machine": f"{platform.machine()}, {os.cpu_count()} CPUs visible, CUDA {torch.cuda.is_available()}",
        "threads": torch.get_num_threads(),
        "omp_num_threads": os.environ.get("OMP_NUM_THREADS"),
        "versions": package_versions(),
        "seconds": round(seconds, 1),
    }


def study_context(args: ReplicationArguments, prepared: dict, seconds: float) -> dict:
    return {
        **run_context(seconds),
        "design": (
            f"One shared SFT checkpoint ({args.sft_checkpoint or prepared['checkpoint']}); "
            f"seeds {args.seeds} vary the DPO runs only. "
            f"Benchmark: {args.test_pairs} fresh pairs ({args.benchmark} seed {prepared['summary']['benchmark_seed']})."
        ),
        "settings": asdict(args),
        "data": prepared["summary"],
    }


def run_study(args: ReplicationArguments) -> dict:
    from edit_handbook.editcaption.study import SFT, summarise, write_report

    start = time.perf_counter()
    out = Path(args.output_dir)
    prepared = _prepare(args, out)
    sft_scores = _score(out / SFT, prepared, args, model=prepared["model"])
    arms = {arm: [_run_arm(arm, seed, args, out, prepared) for seed in args.seeds] for arm in args.arms}
    summary = summarise(
        arms, sft_scores, list(prepared["benchmark"]["failure_mode"]), num_resamples=args.num_resamples
    )
    context = study_context(args, prepared, time.perf_counter() - start)
    context["examples"] = {
        name: [
            {"reference": reference, "output": output, "verdict": verdict}
            for reference, output, verdict in zip(
                prepared["benchmark"]["instruction"][:4], scores[0]["outputs"][:4], scores[0]["verdict"][:4]
            )
        ]
        for name, scores in {"sft": [sft_scores], **arms}.items()
    }
    context["training"] = training_diagnostics(out, args.arms, args.seeds)
    context["hae_spread"] = hae_room(out, args)
    return write_report(out / f"report_{args.benchmark}" if args.benchmark != "test" else out, summary, context)


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] in (["-h"], ["--help"]):
        make_parser().parse_args_and_config(["--help"])  # prints the study's options and exits
    if argv[:1] == ["superedit"]:
        from edit_handbook.replicate_superedit import main as superedit_main

        return superedit_main(argv[1:])
    if not argv or argv[0] != "editcaption":
        print(
            "usage: edit-handbook replicate {editcaption,superedit} --config <study.yaml> [--flag value ...]",
            file=sys.stderr,
        )
        return 2
    (args,) = make_parser().parse_args_and_config(argv[1:])
    logging.basicConfig(format=LOG_FORMAT, level=logging.INFO)  # this study's progress; libraries stay quiet
    report = run_study(args)
    print((Path(args.output_dir) / "report.md").read_text() if args.benchmark == "test" else json.dumps(report)[:2000])
    return 0


if __name__ == "__main__":
    sys.exit(run_reporting_errors(main))
