"""Push every saved checkpoint to its own branch of the Hub repo, as open-r1's `PushToHubRevisionCallback` does.

Checkpoint `checkpoint-N` goes to branch `<hub_revision or "main">-step-<N:09d>`, so any step can be loaded with
`from_pretrained(repo_id, revision=...)` and evaluated while training goes on. Weights, config, processor and a
short card are uploaded; optimizer, scheduler and RNG states (and DeepSpeed's shards) stay local. Uploads run one
at a time on a background thread, so training does not wait for the network; the end of training waits for the
last one and raises if any failed. `CheckpointRevisionCallback` does this for TRL's trainers (SFT, DPO); the
SuperEdit trainer hands `RevisionPusher` the editing pipeline it writes into each checkpoint.
"""

from __future__ import annotations

import logging
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path

from huggingface_hub import HfApi
from transformers import TrainerCallback
from transformers.trainer_utils import PREFIX_CHECKPOINT_DIR

from .cards import model_card, write_card
from .publish import MODEL_FOLDER_IGNORE, push_folder


logger = logging.getLogger(__name__)


def checkpoint_branch(revision: str | None, global_step: int) -> str:
    """The branch a checkpoint goes to: `<revision>-step-<global_step:09d>` (zero-padded so branches sort)."""
    return f"{revision or 'main'}-step-{global_step:09d}"


class RevisionPusher:
    """Uploads a folder per training step to its own branch, one at a time on a background thread."""

    def __init__(
        self,
        repo_id: str,
        *,
        kind: str,
        base_model: str,
        datasets: list[str],
        revision: str | None = None,
        private: bool | None = None,
        api: HfApi | None = None,
    ) -> None:
        self.repo_id, self.kind, self.base_model, self.datasets = repo_id, kind, base_model, datasets
        self.revision, self.private, self.api = revision, private, api
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="checkpoint-push")
        self.pending: list[Future] = []

    def push(self, folder: Path, global_step: int) -> None:
        """Write a card into `folder` and queue its upload to branch `checkpoint_branch(revision, global_step)`."""
        branch = checkpoint_branch(self.revision, global_step)
        card = model_card(
            model_name=f"{self.repo_id} (step {global_step})",
            kind=self.kind,
            base_model=self.base_model,
            datasets=self.datasets,
            run_info={"global_step": global_step, "checkpoint": folder.name, "branch": branch},
            repo_id=self.repo_id,
        )
        write_card(folder, card)
        logger.info("pushing %s to %s@%s in the background", folder, self.repo_id, branch)
        self.pending.append(
            self._executor.submit(
                push_folder,
                folder,
                self.repo_id,
                revision=branch,
                private=self.private,
                commit_message=f"Checkpoint at step {global_step}",
                ignore_patterns=MODEL_FOLDER_IGNORE,
                api=self.api,
            )
        )

    def wait(self) -> list[str]:
        """Block until every upload is done; returns their commit URLs (raises the first upload error)."""
        urls = [future.result() for future in self.pending]
        self.pending.clear()
        return urls


class CheckpointRevisionCallback(RevisionPusher, TrainerCallback):
    """On each Trainer save (main process only), write a card into the checkpoint and upload it to its branch."""

    def on_train_begin(self, args, state, control, **kwargs):
        if args.save_total_limit == 1:
            raise ValueError(
                "push_checkpoint_revisions uploads a checkpoint while training goes on, and save_total_limit: 1 "
                "would delete it at the next save: set save_total_limit to 2 or more (or null)"
            )

    def on_save(self, args, state, control, **kwargs):
        if not state.is_world_process_zero:
            return
        folder = Path(args.output_dir) / f"{PREFIX_CHECKPOINT_DIR}-{state.global_step}"
        if not folder.is_dir():
            raise FileNotFoundError(f"push_checkpoint_revisions: the Trainer saved no {folder}")
        self.push(folder, state.global_step)

    def on_train_end(self, args, state, control, **kwargs):
        self.wait()


def revision_pusher(
    enabled: bool,
    hub_model_id: str | None,
    *,
    revision: str | None,
    private: bool | None,
    kind: str,
    base_model: str,
    datasets: list[str],
    pusher: type[RevisionPusher] = RevisionPusher,
) -> RevisionPusher | None:
    """A pusher when `push_checkpoint_revisions` is set (`enabled`), else None; it needs `hub_model_id`."""
    if not enabled:
        return None
    if not hub_model_id:
        raise ValueError("push_checkpoint_revisions needs hub_model_id (e.g. --hub_model_id your-name/model-name)")
    return pusher(
        hub_model_id, kind=kind, base_model=base_model, datasets=datasets, revision=revision, private=private
    )


def checkpoint_revision_callbacks(
    script_args, training_args, *, base_model: str, datasets: list[str], kind: str = "captioner"
) -> list[CheckpointRevisionCallback]:
    """The callback list the SFT and DPO scripts start from (empty unless `push_checkpoint_revisions` is set)."""
    callback = revision_pusher(
        script_args.push_checkpoint_revisions,
        training_args.hub_model_id,
        revision=training_args.hub_revision,
        private=training_args.hub_private_repo,
        kind=kind,
        base_model=base_model,
        datasets=datasets,
        pusher=CheckpointRevisionCallback,
    )
    return [callback] if callback else []
