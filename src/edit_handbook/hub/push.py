"""`edit-handbook push`: publish a trained captioner or editor, a dataset folder, or the Space, with complete cards.

    edit-handbook push captioner outputs/qwen3-vl-8b-sft --repo-id me/edit-captioner [--revision v1] [--private]
        [--eval-report outputs/eval/captioner] [--base-model Qwen/Qwen3-VL-8B-Instruct]
    edit-handbook push editor outputs/superedit-sd15 --repo-id me/superedit-sd15 --eval-report outputs/eval/editor
    edit-handbook push dataset outputs/synthesis/rectify --repo-id me/rectified-pairs
    edit-handbook push space --repo-id me/edit-handbook          # spaces/edit-handbook, this package bundled in

Before uploading, the card is rewritten complete from what the folder holds: base model, data and recipe from
`run_info.json`, the metrics table of an evaluation report, a fresh example grid (the captioner's own
instructions for example pairs, or the editor's edits), intended use, limits and both citations; a dataset
gets its schema, splits, provenance, prompt version and counts, and is uploaded as Parquet. `--dry-run` writes
everything and uploads nothing.
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import fields
from pathlib import Path

import torch

from .publish import MODEL_FOLDER_IGNORE, push_folder
from .release import DATASET_STAGING, ReleaseOptions, complete_model_card, prepare_dataset
from .space_bundle import bundle_space


KINDS = ("captioner", "editor", "dataset", "space")
DEFAULT_SPACE_DIR = "spaces/edit-handbook"
DEFAULT_SPACE_BUNDLE = "outputs/space-bundle"


def make_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="edit-handbook push", description=__doc__.split("\n\n")[0], formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("kind", choices=KINDS, help="what to publish")
    parser.add_argument(
        "folder", nargs="?", help=f"training output, dataset folder, or Space folder (space: {DEFAULT_SPACE_DIR})"
    )
    parser.add_argument("--repo-id", "--repo_id", required=True, help="Hub repo, e.g. your-name/edit-captioner")
    parser.add_argument("--revision", help="push to this branch (created from the repo's first commit)")
    parser.add_argument("--private", action="store_true", help="create the repo as private")
    parser.add_argument("--commit-message", "--commit_message")
    parser.add_argument("--dry-run", "--dry_run", action="store_true", help="write cards and folders, upload nothing")
    parser.add_argument("--license", default="apache-2.0", help="licence in the card (default apache-2.0)")
    models = parser.add_argument_group("captioner / editor")
    models.add_argument("--eval-report", "--eval_report", help="folder of a saved evaluation report (metrics table)")
    models.add_argument("--base-model", "--base_model", help="Hub id of the base model (default: from run_info)")
    models.add_argument(
        "--dataset", action="append", dest="datasets", help="training dataset (repeatable; default: from run_info)"
    )
    models.add_argument(
        "--examples", default="synthetic", help="pairs for the example grid: 'synthetic' or any load_edit_pairs source"
    )
    models.add_argument(
        "--num-examples", "--num_examples", type=int, default=8, help="pairs in the grid; 0 keeps the existing one"
    )
    models.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    models.add_argument("--inference-steps", "--inference_steps", type=int, default=50, help="editor grid")
    models.add_argument("--guidance-scale", "--guidance_scale", type=float, default=10.0, help="editor grid (text)")
    models.add_argument(
        "--image-guidance-scale", "--image_guidance_scale", type=float, default=1.5, help="editor grid"
    )
    models.add_argument("--seed", type=int, default=42, help="editor grid")
    parser.add_argument(
        "--staging-dir",
        "--staging_dir",
        help=f"dataset: the upload folder (default <folder>/{DATASET_STAGING}); space: the bundle "
        f"(default {DEFAULT_SPACE_BUNDLE})",
    )
    return parser


def prepare(args: argparse.Namespace) -> tuple[Path, str, tuple[str, ...] | None]:
    """Write what will be uploaded; returns (folder, repo_type, ignore patterns)."""
    if args.kind == "space":
        space_dir = Path(args.folder or DEFAULT_SPACE_DIR)
        return bundle_space(space_dir, args.staging_dir or DEFAULT_SPACE_BUNDLE), "space", None
    if not args.folder:
        raise SystemExit(f"edit-handbook push {args.kind}: give the folder to publish")
    folder = Path(args.folder)
    if not folder.is_dir():
        raise FileNotFoundError(f"{folder} is not a folder")
    options = ReleaseOptions(**{field.name: getattr(args, field.name) for field in fields(ReleaseOptions)})
    if args.kind == "dataset":
        return prepare_dataset(options, folder), "dataset", None
    complete_model_card(options, folder)
    return folder, "model", MODEL_FOLDER_IGNORE


def main(argv: list[str] | None = None, api=None) -> int:
    args = make_parser().parse_args(argv)
    folder, repo_type, ignore = prepare(args)
    if args.dry_run:
        print(f"dry run: {folder} is ready for {repo_type} repo {args.repo_id} (card: {folder / 'README.md'})")
        return 0
    url = push_folder(
        folder,
        args.repo_id,
        repo_type=repo_type,
        revision=args.revision,
        private=args.private or None,
        commit_message=args.commit_message,
        ignore_patterns=ignore,
        api=api,
    )
    print(f"pushed {folder} to {url}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
