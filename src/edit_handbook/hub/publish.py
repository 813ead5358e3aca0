"""The end of every training script: `run_info.json` and the card beside the weights, then the push.

`push_folder` uploads any folder (model, dataset, Space) to a Hub repo or to a revision branch of it;
`publish_model` is what SFT, DPO and SuperEdit call after saving; `hub.revisions` pushes each checkpoint to its
own branch while training goes on.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from huggingface_hub import HfApi

from ..redaction import redact
from .cards import card_inputs, model_card, read_card, write_card
from .run_info import write_run_info


# What a training output folder holds that is not the model: Trainer / accelerate checkpoints (optimizer
# states), DPO's reference pass and merged SFT start, logs, caches, DeepSpeed shards.
MODEL_FOLDER_IGNORE = (
    "checkpoint-*/**",
    "reference/**",
    "sft-merged/**",
    "logs/**",
    "runs/**",
    "global_step*/**",
    "*.pt",
    "*.pth",
    "**/__pycache__/**",
)


def _space_sdk(folder: Path) -> str:
    card = read_card(folder)
    return str(card.meta.get("sdk", "gradio")) if card else "gradio"


# Files small and textual enough to check for credentials before they are uploaded.
# Data files (.jsonl, .csv, Parquet) are not rewritten: they are the user's content, not our records.
_TEXT_SUFFIXES = (".json", ".md", ".yaml", ".yml", ".txt", ".log", ".cfg", ".toml")
_MAX_SCANNED_BYTES = 16 * 2**20


def check_upload_folder(folder: Path, ignore_patterns: list[str] | tuple[str, ...] | None = None) -> list[Path]:
    """Make `folder` safe to upload: refuse links that lead outside it, redact credentials in its text files.

    Returns the files whose text was redacted (in place: they are this project's records, and a secret has no
    business in them either). Files matching `ignore_patterns` are not uploaded, so not checked.
    """
    from fnmatch import fnmatch

    root = folder.resolve()
    redacted = []
    for path in sorted(folder.rglob("*")):
        if any(fnmatch(path.relative_to(folder).as_posix(), pattern) for pattern in ignore_patterns or ()):
            continue
        if path.is_symlink() and not path.resolve().is_relative_to(root):
            raise ValueError(
                f"{path} links to {path.resolve()}, outside {folder}: pushing would upload a file from elsewhere; "
                "copy the file into the folder or remove the link"
            )
        if path.is_file() and path.suffix in _TEXT_SUFFIXES and path.stat().st_size <= _MAX_SCANNED_BYTES:
            text = path.read_text(errors="surrogateescape")
            clean = redact(text)
            if clean != text:
                path.write_text(clean, errors="surrogateescape")
                redacted.append(path)
    return redacted


def push_folder(
    folder: str | Path,
    repo_id: str,
    *,
    repo_type: str = "model",
    revision: str | None = None,
    private: bool | None = None,
    commit_message: str | None = None,
    ignore_patterns: list[str] | tuple[str, ...] | None = None,
    api: HfApi | None = None,
) -> str:
    """Upload a folder (card included) to a Hub repo, optionally to a revision branch; returns the commit URL.

    A new revision branch starts from the repo's first commit (as open-r1's revision pushes do), so it holds the
    folder's files and nothing of `main`. A Space repo is created with the SDK its card's front matter names.
    """
    folder = Path(folder)
    if not (folder / "README.md").exists():
        raise FileNotFoundError(f"{folder} has no README.md card: write one with `write_card` before pushing")
    for path in check_upload_folder(folder, ignore_patterns):
        print(f"redacted a credential in {path} before uploading it")
    api = api or HfApi()
    extra = {"space_sdk": _space_sdk(folder)} if repo_type == "space" else {}
    api.create_repo(repo_id, repo_type=repo_type, private=private, exist_ok=True, **extra)
    if revision:
        initial = api.list_repo_commits(repo_id, repo_type=repo_type)[-1].commit_id
        api.create_branch(repo_id, branch=revision, revision=initial, repo_type=repo_type, exist_ok=True)
    commit = api.upload_folder(
        repo_id=repo_id,
        folder_path=str(folder),
        repo_type=repo_type,
        revision=revision,
        commit_message=commit_message or f"Upload {folder.name} with edit-handbook",
        ignore_patterns=list(ignore_patterns) if ignore_patterns else None,
    )
    return commit.commit_url


def publish_model(
    output_dir: str | Path,
    run_info: dict[str, Any],
    *,
    kind: str,
    base_model: str,
    datasets: list[str],
    recipe_config: dict[str, Any] | None = None,
    metrics_markdown: str | None = None,
    example_grid: str | None = None,
    hub_model_id: str | None = None,
    push: bool = False,
    revision: str | None = None,
    private: bool | None = None,
) -> str | None:
    """The end of every training script (SFT, DPO, SuperEdit): `run_info.json` and the model card next to the
    weights, then the push when asked (checkpoints and other training leftovers stay local). Returns the commit
    URL, or None. Each checkpoint's own branch is `hub.revisions`' job, while training runs."""
    write_run_info(output_dir, run_info)
    card = model_card(
        model_name=hub_model_id or Path(output_dir).resolve().name,
        kind=kind,
        base_model=base_model,
        datasets=datasets,
        recipe_config=recipe_config,
        metrics_markdown=metrics_markdown,
        example_grid=example_grid,
        run_info=run_info,
        recipe_file=card_inputs(run_info)["recipe_file"],
        repo_id=hub_model_id,
    )
    write_card(output_dir, card)
    if not push:
        return None
    if not hub_model_id:
        raise ValueError("push_to_hub needs hub_model_id (e.g. --hub_model_id your-name/edit-captioner)")
    return push_folder(
        output_dir, hub_model_id, revision=revision, private=private, ignore_patterns=MODEL_FOLDER_IGNORE
    )
