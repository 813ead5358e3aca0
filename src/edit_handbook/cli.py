"""`edit-handbook <command>`: one entry point that dispatches to the project's scripts.

Each command is a module-level `main(argv)`; the scripts stay runnable on their own (e.g. under
`accelerate launch src/edit_handbook/sft.py ...`) and this is the same code for people who do
not use accelerate.
"""

from __future__ import annotations

import importlib
import sys


# command -> ("module:function", one-line help). Later stages of the pipeline add their scripts here.
COMMANDS: dict[str, tuple[str, str]] = {
    "demo": (
        "edit_handbook.demo.stages:main",
        "Run the pipeline end to end on synthetic pairs with tiny models (CPU).",
    ),
    "dpo": (
        "edit_handbook.dpo:main",
        "EditCaption stage 2: HAE-DPO (adaptive margins, hard-example sampler, stored reference) on TRL's DPOTrainer.",
    ),
    "dpo-prepare": (
        "edit_handbook.dpo:prepare_main",
        "HAE-DPO's reference pass alone: reference log-probs and hardness per pair, stored once (resumable).",
    ),
    "evaluate": (
        "edit_handbook.evaluate:main",
        "Evaluate captioners (judge, exact checker) or an editor (Real-Edit); write report.json, report.md, plots.",
    ),
    "generate": ("edit_handbook.generate:main", "Write synthetic edit pairs (the embedded default)."),
    "pretrain-vision": (
        "edit_handbook.pretrain_vision:main",
        "Stage 0 of the captioner that sees: pre-train a tiny VLM's vision tower to name every object per image token.",
    ),
    "push": (
        "edit_handbook.hub.push:main",
        "Publish a captioner, an editor, a dataset folder or the Space to the Hub, with complete cards.",
    ),
    "replicate": (
        "edit_handbook.replicate:main",
        "Run a study end to end: `replicate editcaption --config ...` (SFT vs plain DPO vs HAE-DPO) or "
        "`replicate superedit --config ...` (noisy vs rectified vs reference instructions, triplet loss on/off).",
    ),
    "sft": (
        "edit_handbook.sft:main",
        "EditCaption stage 1: fine-tune a two-image instruction writer (TRL SFTTrainer).",
    ),
    "synthesize": (
        "edit_handbook.synthesize:main",
        "Caption, filter (judge), rectify (<= 77 CLIP tokens) or make negatives for edit pairs; resumable.",
    ),
    "tutorial-editor": (
        "edit_handbook.tutorial_editor:main",
        "Train the tutorial-scale SuperEdit editor on CPU and score it on held-out synthetic pairs (pixel-exact).",
    ),
    "train-superedit": (
        "edit_handbook.train_superedit:main",
        "SuperEdit: fine-tune an InstructPix2Pix editor on rectified instructions with a triplet loss.",
    ),
    "validate": (
        "edit_handbook.validate:main",
        "Load and validate an edit-pair dataset; print a report.",
    ),
}

# Recipe stage folder (recipes/<family>/<model>/<stage>/config_*.yaml) -> "module:function" returning
# the parser of the script that runs it. A stage name two families share is keyed "<family>/<stage>".
# The recipe test parses every YAML with its stage's parser.
RECIPE_PARSERS: dict[str, str] = {
    "dpo": "edit_handbook.dpo:make_parser",
    "editcaption/replication": "edit_handbook.replicate:make_parser",
    "evaluate": "edit_handbook.evaluate:make_parser",
    "generate": "edit_handbook.generate:make_parser",
    "sft": "edit_handbook.sft:make_parser",
    "superedit/replication": "edit_handbook.replicate_superedit:make_parser",
    "synthesize": "edit_handbook.synthesize:make_parser",
    "train": "edit_handbook.train_superedit:make_parser",
    "vision": "edit_handbook.pretrain_vision:make_parser",
    "tutorial": "edit_handbook.tutorial_editor:make_parser",
}


def resolve(target: str):
    """Import "module:function" and return the function."""
    module_name, function_name = target.split(":")
    return getattr(importlib.import_module(module_name), function_name)


def usage() -> str:
    width = max(map(len, COMMANDS))
    lines = [f"  {name.ljust(width)}  {help_}" for name, (_, help_) in COMMANDS.items()]
    return (
        "usage: edit-handbook <command> [options]\n\ncommands:\n"
        + "\n".join(lines)
        + ("\n\nRun `edit-handbook <command> --help` for a command's options.")
    )


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0] in ("-h", "--help"):
        print(usage())
        return 0
    command, rest = argv[0], argv[1:]
    if command not in COMMANDS:
        print(f"edit-handbook: unknown command {command!r}\n\n{usage()}", file=sys.stderr)
        return 2
    function = resolve(COMMANDS[command][0])
    sys.argv = [f"edit-handbook {command}", *rest]  # so argparse/TrlParser help shows the right program name
    from edit_handbook.script_utils import run_reporting_errors

    return run_reporting_errors(function, rest, f"edit-handbook {command}")


if __name__ == "__main__":
    sys.exit(main())
