"""The SuperEdit training loop: accelerate + `diffusers.training_utils`, the UNet the only trainable model.

Reproducibility is by construction rather than by saved RNG state: the data order of an epoch comes
from (seed, epoch), each row's negative from (seed, epoch, row), and every micro-batch's noise, timesteps
and dropout from a generator seeded by (seed, step, index of the micro-batch within the step). A run
resumed from a checkpoint therefore replays exactly the steps the interrupted run would have taken, and
the micro-batch index counts over processes and accumulation alike (`micro_step * processes + rank`), so
2 processes train exactly as 1 process accumulating 2 micro-batches of the same size.
"""

from __future__ import annotations

import json
import math
import shutil
from dataclasses import asdict
from pathlib import Path
from typing import Any

import datasets
import numpy as np
import torch
from accelerate import Accelerator
from accelerate.utils import DistributedType, ProjectConfiguration, set_seed
from diffusers import DDPMScheduler, StableDiffusionInstructPix2PixPipeline, UNet2DConditionModel
from diffusers.optimization import get_scheduler
from diffusers.training_utils import EMAModel

from ..data import schema
from ..distributed import outside_zero3_init, process_state
from ..hub.revisions import RevisionPusher
from ..hub.run_info import fingerprint
from ..models import cache_root
from ..models.acceleration import compile_in_place
from ..models.editor import editing_pipeline
from .caches import build_latent_cache, build_text_cache, module_fingerprint
from .configs import (
    SuperEditCacheArguments,
    SuperEditDataArguments,
    SuperEditLossArguments,
    SuperEditModelArguments,
    SuperEditTrainingArguments,
)
from .data import SuperEditDataset, training_rows
from .ema_state import load_ema, save_ema
from .encoders import FrozenEncoders
from .losses import triplet_is_active
from .model import load_editor
from .step import superedit_step
from .validation import edit_grid, heldout_gap


CHECKPOINT_PREFIX = "checkpoint-"
METRICS_FILE = "metrics.jsonl"
GRID_FILE = "validation.png"


class EpochShuffle(torch.utils.data.Sampler):
    """The training rows in an order drawn from (seed, epoch); accelerate shards it across ranks."""

    def __init__(self, indices: list[int], seed: int) -> None:
        self.indices = np.asarray(indices)
        self.seed = seed
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __iter__(self):
        return iter(np.random.default_rng([self.seed, self.epoch]).permutation(self.indices).tolist())

    def __len__(self) -> int:
        return len(self.indices)


def step_generator(seed: int, step: int, micro_batch: int, device: torch.device) -> torch.Generator:
    """The generator of one micro-batch of a step: independent of everything that happened before it.

    The trailing 0 keeps single-process streams as they were when the key was (micro-step, rank 0).
    """
    state = int(np.random.SeedSequence([seed, step, micro_batch, 0]).generate_state(1, np.uint64)[0] >> 1)
    return torch.Generator(device).manual_seed(state)


def latest_checkpoint(output_dir: str | Path) -> Path | None:
    """The complete checkpoint with the highest step (unfinished saves are `.tmp` and ignored)."""
    folder = Path(output_dir)
    found = [
        p for p in folder.glob(f"{CHECKPOINT_PREFIX}*") if p.is_dir() and p.name[len(CHECKPOINT_PREFIX) :].isdigit()
    ]
    return max(found, key=lambda p: int(p.name[len(CHECKPOINT_PREFIX) :]), default=None)


class SuperEditTrainer:
    """Fine-tunes an InstructPix2Pix UNet with SuperEdit's loss on a dataset in the canonical schema.

    `train()` runs (or resumes) the loop and returns the logged history; `save()` writes the final
    `StableDiffusionInstructPix2PixPipeline` (EMA weights when enabled). With a `revision_pusher`, every checkpoint's
    editing pipeline goes to its own Hub branch while training runs.
    """

    def __init__(
        self,
        *,
        model_args: SuperEditModelArguments,
        data_args: SuperEditDataArguments,
        loss_args: SuperEditLossArguments,
        cache_args: SuperEditCacheArguments,
        args: SuperEditTrainingArguments,
        train_dataset: datasets.Dataset,
        data_fingerprint: str | None = None,
        revision_pusher: RevisionPusher | None = None,
    ) -> None:
        if not isinstance(train_dataset, datasets.Dataset):
            raise TypeError(
                "the SuperEdit trainer needs a map-style datasets.Dataset (random access for the caches); "
                "load without streaming"
            )
        self.model_args, self.data_args, self.loss_args, self.cache_args, self.args = (
            model_args,
            data_args,
            loss_args,
            cache_args,
            args,
        )
        if revision_pusher is not None and args.checkpoints_total_limit == 1:
            raise ValueError(
                "push_checkpoint_revisions uploads a checkpoint while training goes on, and checkpoints_total_limit: 1 "
                "would delete it at the next save: set checkpoints_total_limit to 2 or more (or null)"
            )
        self.revision_pusher = revision_pusher
        process_state()  # before the Accelerator: right ranks on machines without GPUs too
        self.accelerator = accelerator = Accelerator(
            gradient_accumulation_steps=args.gradient_accumulation_steps,
            mixed_precision=args.mixed_precision,
            log_with=None if args.report_to == "none" else args.report_to,
            project_config=ProjectConfiguration(project_dir=args.output_dir, logging_dir=f"{args.output_dir}/logs"),
        )
        set_seed(args.seed)
        self.output_dir = Path(args.output_dir)
        if accelerator.device.type == "cuda" and args.allow_tf32:
            torch.backends.cuda.matmul.allow_tf32 = True
        self.weight_dtype = {"fp16": torch.float16, "bf16": torch.bfloat16}.get(
            accelerator.mixed_precision, torch.float32
        )

        pipeline = load_editor(model_args.pretrained_model_name_or_path, from_sd15=model_args.from_sd15)
        self.vae, self.text_encoder, self.tokenizer = pipeline.vae, pipeline.text_encoder, pipeline.tokenizer
        self.inference_scheduler = pipeline.scheduler
        self.noise_scheduler = DDPMScheduler.from_config(pipeline.scheduler.config)
        self.scaling_factor = self.vae.config.scaling_factor
        unet = pipeline.unet
        vae_key = module_fingerprint("vae", self.vae)
        text_key = module_fingerprint("text_encoder", self.text_encoder)
        for frozen in (self.vae, self.text_encoder):
            frozen.requires_grad_(False)
            frozen.eval()
            frozen.to(accelerator.device, self.weight_dtype)

        # Rows, held-out split and caches.
        self.dataset = train_dataset
        self.rows = rows = training_rows(train_dataset, data_args.instruction_column, data_args.negatives_column)
        heldout = data_args.heldout_pairs
        if not 0 <= heldout < len(rows):
            raise ValueError(f"heldout_pairs={heldout} must be in [0, {len(rows)}) for {len(rows)} rows")
        train_indices = list(range(len(rows) - heldout))
        shown = list(range(len(rows) - heldout, len(rows))) if heldout else train_indices
        self.validation_indices = shown[: args.num_validation_pairs]
        data_key = fingerprint(data_fingerprint or train_dataset._fingerprint, rows.ids)
        cache_folder = Path(cache_args.cache_dir) if cache_args.cache_dir else cache_root() / "superedit"
        latents = None
        if cache_args.cache_latents:
            key = fingerprint("latents", vae_key, data_key, data_args.resolution, cache_args.cache_dtype)
            latents = build_latent_cache(
                cache_folder / "latents" / key, train_dataset, rows.ids, self.vae,
                resolution=data_args.resolution, job_fingerprint=key, dtype=cache_args.cache_dtype,
                batch_size=cache_args.cache_batch_size,
            )  # fmt: skip
        text_embeddings = None
        if cache_args.cache_text_embeddings:
            key = fingerprint("text", text_key, self.tokenizer.name_or_path, rows.table.texts, cache_args.cache_dtype)
            text_embeddings = build_text_cache(
                cache_folder / "text" / key, rows.table.texts, self.tokenizer, self.text_encoder,
                job_fingerprint=key, dtype=cache_args.cache_dtype, batch_size=4 * cache_args.cache_batch_size,
            )  # fmt: skip
        self.encoders = FrozenEncoders(
            self.vae, self.text_encoder, self.tokenizer, rows.table,
            device=accelerator.device, dtype=self.weight_dtype, text_embeddings=text_embeddings,
        )  # fmt: skip
        self.train_data = SuperEditDataset(
            rows, seed=args.seed, latents=latents,
            images=None if latents is not None else train_dataset, resolution=data_args.resolution,
        )  # fmt: skip

        # The trainable UNet, its EMA (created before `prepare`, from the full unsharded weights) and optimiser.
        unet.train()
        if args.gradient_checkpointing:
            unet.enable_gradient_checkpointing()
        # DeepSpeed broadcasts and flattens parameters through contiguous byte views, which channels-last
        # convolution weights are not ("stride(-1) must be 1 to view Float as Byte"): it keeps the default layout.
        if args.channels_last and accelerator.distributed_type != DistributedType.DEEPSPEED:
            unet.to(memory_format=torch.channels_last)
        unet.to(accelerator.device)
        self.compile_status = compile_in_place(
            unet,
            enabled=args.torch_compile,
            device=accelerator.device,
            backend=args.torch_compile_backend,
            mode=args.torch_compile_mode,
            incompatible="DeepSpeed ZeRO-3 shards the UNet's parameters" if self.is_zero3 else None,
            probe=lambda: self._probe_loss(unet),
        )
        accelerator.print(self.compile_status)
        self.ema = None
        if args.use_ema:
            self.ema = EMAModel(
                unet.parameters(), decay=args.ema_decay, model_cls=UNet2DConditionModel, model_config=unet.config
            )
        optimizer = torch.optim.AdamW(
            unet.parameters(),
            lr=args.learning_rate,
            betas=(args.adam_beta1, args.adam_beta2),
            weight_decay=args.adam_weight_decay,
            eps=args.adam_epsilon,
            fused=accelerator.device.type == "cuda",
        )
        self.sampler = EpochShuffle(train_indices, args.seed)
        dataloader = torch.utils.data.DataLoader(
            self.train_data,
            batch_size=args.per_device_train_batch_size,
            sampler=self.sampler,
            drop_last=True,
            num_workers=data_args.dataloader_num_workers,
        )
        if len(dataloader) < accelerator.num_processes:
            raise ValueError(
                f"{len(train_indices)} training rows do not fill one batch of {args.per_device_train_batch_size} "
                f"on each of {accelerator.num_processes} processes; lower per_device_train_batch_size or add rows"
            )
        lr_scheduler = get_scheduler(
            args.lr_scheduler,
            optimizer=optimizer,
            num_warmup_steps=args.lr_warmup_steps * accelerator.num_processes,
            num_training_steps=args.max_train_steps * accelerator.num_processes,
        )
        self.unet, self.optimizer, self.dataloader, self.lr_scheduler = accelerator.prepare(
            unet, optimizer, dataloader, lr_scheduler
        )
        if self.ema is not None:  # saved with the checkpoints as safetensors (ema_state), not pickled
            self.ema.to(accelerator.device)
        self.unet_config = unet.config
        self.history: list[dict[str, Any]] = []
        self.global_step = 0

    def _probe_loss(self, unet: UNet2DConditionModel) -> torch.Tensor:
        """A loss of one training-shaped batch of zeros: compiles the UNet (forward and backward) up front."""
        batch = self.args.per_device_train_batch_size
        side = self.data_args.resolution // 2 ** (len(self.vae.config.block_out_channels) - 1)
        device = self.accelerator.device
        sample = torch.zeros(batch, unet.config.in_channels, side, side, device=device)
        text = torch.zeros(batch, 77, unet.config.cross_attention_dim, device=device)
        with self.accelerator.autocast():
            prediction = unet(sample, torch.zeros(batch, dtype=torch.long, device=device), text, return_dict=False)[0]
        return prediction.float().pow(2).mean()

    @property
    def is_zero3(self) -> bool:
        plugin = self.accelerator.state.deepspeed_plugin
        return self.accelerator.distributed_type == DistributedType.DEEPSPEED and plugin.zero_stage == 3

    @property
    def steps_per_epoch(self) -> int:
        return math.ceil(len(self.dataloader) / self.args.gradient_accumulation_steps)

    # -- the loop ----------------------------------------------------------------------------------------

    def train(self) -> list[dict[str, Any]]:
        args, accelerator = self.args, self.accelerator
        self.global_step = self._resume()
        if accelerator.is_main_process:
            accelerator.init_trackers("superedit", config=self._flat_config())
        first_epoch = self.global_step // self.steps_per_epoch
        skip = (self.global_step % self.steps_per_epoch) * args.gradient_accumulation_steps
        epochs = math.ceil(args.max_train_steps / self.steps_per_epoch)
        running: dict[str, torch.Tensor] = {}
        micro_step = 0
        for epoch in range(first_epoch, epochs):
            if self.global_step >= args.max_train_steps:
                break
            self.train_data.set_epoch(epoch)
            self.dataloader.set_epoch(epoch)
            loader = (
                accelerator.skip_first_batches(self.dataloader, skip)
                if epoch == first_epoch and skip
                else self.dataloader
            )
            for batch in loader:
                triplet_on = triplet_is_active(self.global_step, self.loss_args.triplet_start_step)
                with accelerator.accumulate(self.unet):
                    result = self.training_step(batch, micro_step, triplet_on)
                    accelerator.backward(result.loss)
                    if accelerator.sync_gradients and args.max_grad_norm > 0:
                        accelerator.clip_grad_norm_(self.unet.parameters(), args.max_grad_norm)
                    self.optimizer.step()
                    self.lr_scheduler.step()
                    self.optimizer.zero_grad(set_to_none=True)
                for name, value in result.metrics_tensors().items():
                    running[name] = running.get(name, 0.0) + value / args.gradient_accumulation_steps
                micro_step += 1
                if not accelerator.sync_gradients:
                    continue
                micro_step = 0
                if self.ema is not None:
                    self._ema_step()
                self.global_step += 1
                if self.global_step % args.logging_steps == 0 or self.global_step == args.max_train_steps:
                    self._log({**running, "triplet_on": float(triplet_on)})
                running = {}
                if args.checkpointing_steps and self.global_step % args.checkpointing_steps == 0:
                    self.save_checkpoint()
                if args.validation_steps and self.global_step % args.validation_steps == 0:
                    self.validate()
                if self.global_step >= args.max_train_steps:
                    break
        accelerator.wait_for_everyone()
        return self.history

    def _ema_step(self) -> None:
        """Update the EMA from the full weights: under ZeRO-3 they are gathered once for the whole UNet.

        diffusers' `EMAModel.step` gathers parameter by parameter itself, but only if `deepspeed` was importable
        under a ZeRO-3 config when `diffusers.training_utils` was first imported (otherwise: NameError), so the
        gathering is done here and EMAModel sees whole tensors with no DeepSpeed config active.
        """
        parameters = list(self.unet.parameters())
        if not self.is_zero3:
            self.ema.step(parameters)
            return
        import deepspeed

        with deepspeed.zero.GatheredParameters(parameters), outside_zero3_init():
            self.ema.step(parameters)

    def training_step(self, batch: dict[str, torch.Tensor], micro_step: int, triplet_on: bool):
        """Loss of one micro-batch; its random numbers depend only on (seed, step, micro-batch index)."""
        accelerator = self.accelerator
        micro_batch = micro_step * accelerator.num_processes + accelerator.process_index
        generator = step_generator(self.args.seed, self.global_step, micro_batch, accelerator.device)
        encoded = self.encoders.encode(batch, with_negative=triplet_on)
        with self.accelerator.autocast():
            return superedit_step(
                self.unet,
                self.noise_scheduler,
                encoded,
                generator=generator,
                scaling_factor=self.scaling_factor,
                dropout_probability=self.loss_args.conditioning_dropout_prob,
                triplet_on=triplet_on,
                margin=self.loss_args.triplet_margin,
                weight=self.loss_args.triplet_weight,
            )

    def _log(self, running: dict[str, Any]) -> None:
        names = sorted(running)
        values = torch.tensor([float(running[name]) for name in names], device=self.accelerator.device)
        values = self.accelerator.reduce(values, reduction="mean")
        record = {name: value for name, value in zip(names, values.tolist())}
        record["lr"] = self.lr_scheduler.get_last_lr()[0]
        self._record(record)

    def _record(self, record: dict[str, float]) -> None:
        self.accelerator.log(record, step=self.global_step)
        entry = {"step": self.global_step, **record}
        self.history.append(entry)
        if self.accelerator.is_main_process:
            self.output_dir.mkdir(parents=True, exist_ok=True)
            with open(self.output_dir / METRICS_FILE, "a") as file:
                file.write(json.dumps(entry) + "\n")

    # -- checkpoints ---------------------------------------------------------------------------------------

    def save_checkpoint(self) -> Path:
        """`accelerator.save_state` into a temporary folder renamed when complete, so a kill mid-save is harmless."""
        accelerator = self.accelerator
        final = self.output_dir / f"{CHECKPOINT_PREFIX}{self.global_step}"
        staging = final.with_name(final.name + ".tmp")
        if accelerator.is_main_process:
            shutil.rmtree(staging, ignore_errors=True)
        accelerator.wait_for_everyone()
        accelerator.save_state(str(staging))
        if accelerator.is_main_process and self.ema is not None:
            save_ema(self.ema, staging)
        accelerator.wait_for_everyone()
        if accelerator.is_main_process:
            shutil.rmtree(final, ignore_errors=True)
            staging.rename(final)
            self._prune_checkpoints()
        accelerator.wait_for_everyone()
        if self.revision_pusher is not None:
            self._push_checkpoint(final)
        return final

    def _prune_checkpoints(self) -> None:
        limit = self.args.checkpoints_total_limit
        if not limit:
            return
        found = sorted(
            (p for p in self.output_dir.glob(f"{CHECKPOINT_PREFIX}*") if p.name[len(CHECKPOINT_PREFIX) :].isdigit()),
            key=lambda p: int(p.name[len(CHECKPOINT_PREFIX) :]),
        )
        for old in found[:-limit]:
            shutil.rmtree(old)

    def _resume(self) -> int:
        wanted = self.args.resume_from_checkpoint
        if not wanted:
            return 0
        path = latest_checkpoint(self.output_dir) if wanted == "latest" else Path(wanted)
        if path is None:
            self.accelerator.print(f"no checkpoint in {self.output_dir}; starting from step 0")
            return 0
        if not path.is_dir():
            raise FileNotFoundError(f"resume_from_checkpoint={wanted!r}: {path} is not a checkpoint folder")
        self.accelerator.print(f"resuming from {path}")
        self.accelerator.load_state(str(path))
        if self.ema is not None:
            load_ema(self.ema, path)
        return int(path.name[len(CHECKPOINT_PREFIX) :])

    # -- validation and the final model ------------------------------------------------------------------------

    def inference_unet(self) -> UNet2DConditionModel | None:
        """Full (unsharded) weights to edit with: the EMA weights when kept, else the trained ones.

        Call on every rank: under ZeRO-3 the trained weights are gathered collectively. Returns None on
        ranks other than the main one when nothing needs gathering.
        """
        accelerator = self.accelerator
        if self.ema is not None or self.is_zero3:
            state = None if self.ema is not None else accelerator.get_state_dict(self.unet)
            if not accelerator.is_main_process:
                return None
            unet = UNet2DConditionModel.from_config(self.unet_config)
            if self.ema is not None:
                self.ema.copy_to(unet.parameters())  # EMA shadows are full copies (EMAModel.step gathers)
            else:
                unet.load_state_dict(state)
            return unet.to(accelerator.device).eval()
        return accelerator.unwrap_model(self.unet) if accelerator.is_main_process else None

    def pipeline(self, unet: UNet2DConditionModel) -> StableDiffusionInstructPix2PixPipeline:
        """The frozen parts and `unet` as an editing pipeline with the Real-Edit sampler (`models.editor`)."""
        modules = {"vae": self.vae, "text_encoder": self.text_encoder, "tokenizer": self.tokenizer, "unet": unet}
        return editing_pipeline({**modules, "scheduler": self.inference_scheduler})

    def validate(self) -> dict[str, float] | None:
        """Held-out d_neg - d_pos and an edit grid (PNG + trackers), with the weights `inference_unet` gives."""
        accelerator, args = self.accelerator, self.args
        unet = self.inference_unet()
        metrics = None
        if accelerator.is_main_process and self.validation_indices:
            was_training = unet.training
            unet.eval()
            items = [self.train_data[index] for index in self.validation_indices]
            negatives = [self.rows.negatives[index] for index in self.validation_indices]
            with accelerator.autocast():
                gap = heldout_gap(
                    unet, self.noise_scheduler, self.encoders, items, negatives,
                    scaling_factor=self.scaling_factor, seed=args.seed, batch_size=args.per_device_train_batch_size,
                )  # fmt: skip
                pairs = self.dataset.select(self.validation_indices)
                grid = edit_grid(
                    self.pipeline(unet),
                    pairs[schema.SOURCE_IMAGE],
                    [self.rows.table.texts[self.rows.positive[index]] for index in self.validation_indices],
                    [self.rows.table.texts[self.rows.negatives[index][0]] for index in self.validation_indices],
                    resolution=self.data_args.resolution,
                    num_inference_steps=args.validation_inference_steps,
                    guidance_scale=args.validation_guidance_scale,
                    image_guidance_scale=args.validation_image_guidance_scale,
                    seed=args.seed,
                )
            unet.train(was_training)
            folder = self.output_dir / "validation"
            folder.mkdir(parents=True, exist_ok=True)
            grid.save(folder / f"step-{self.global_step:06d}.png")
            for tracker in accelerator.trackers:
                if hasattr(tracker, "log_images"):
                    tracker.log_images({"validation": [np.asarray(grid)]}, step=self.global_step)
            metrics = {f"eval_{name}": value for name, value in gap.items()}
            self._record(metrics)
        accelerator.wait_for_everyone()
        return metrics

    def _write_pipeline(self, folder: Path, unet: UNet2DConditionModel) -> None:
        """The editor users load: the frozen parts reloaded in fp32 from the base, and `unet`'s weights."""
        base = load_editor(self.model_args.pretrained_model_name_or_path, from_sd15=self.model_args.from_sd15)
        final_unet = UNet2DConditionModel.from_config(self.unet_config)
        final_unet.load_state_dict({k: v.float().cpu() for k, v in unet.state_dict().items()})
        StableDiffusionInstructPix2PixPipeline(**{**base.components, "unet": final_unet}).save_pretrained(folder)

    def _push_checkpoint(self, checkpoint: Path) -> None:
        """Write the checkpoint's editing pipeline into `<checkpoint>/pipeline` and queue its upload to the step's
        branch (`hub.revisions`). Called on every rank: under ZeRO-3 the weights are gathered collectively."""
        unet = self.inference_unet()
        if self.accelerator.is_main_process:
            folder = checkpoint / "pipeline"
            self._write_pipeline(folder, unet)
            self.revision_pusher.push(folder, self.global_step)
        self.accelerator.wait_for_everyone()

    def save(self) -> Path:
        """Write the final pipeline (fp32, reloaded frozen parts + trained UNet) and the last validation grid;
        the script then ends through `hub.publish.publish_model` with `card_details()` (run_info, card, push)."""
        unet = self.inference_unet()
        accelerator = self.accelerator
        if accelerator.is_main_process:
            self._write_pipeline(self.output_dir, unet)
            grids = sorted((self.output_dir / "validation").glob("step-*.png"))
            if grids:
                shutil.copyfile(grids[-1], self.output_dir / GRID_FILE)
            if self.revision_pusher is not None:
                self.revision_pusher.wait()
        accelerator.wait_for_everyone()
        accelerator.end_training()  # closes trackers (and the process group): saving is the last collective step
        return self.output_dir

    def card_details(self) -> dict[str, Any]:
        """What the editor's card shows beyond run_info: base model, recipe, held-out metrics, the grid."""
        return {
            "kind": "editor",
            "base_model": self.model_args.pretrained_model_name_or_path,
            "recipe_config": self._flat_config(),
            "metrics_markdown": self._metrics_markdown(),
            "example_grid": GRID_FILE if (self.output_dir / GRID_FILE).is_file() else None,
        }

    def _flat_config(self) -> dict[str, Any]:
        config: dict[str, Any] = {}
        for part in (self.model_args, self.data_args, self.loss_args, self.cache_args, self.args):
            config.update({k: v for k, v in asdict(part).items() if isinstance(v, str | int | float | bool)})
        return config

    def _metrics_markdown(self) -> str | None:
        last = next((entry for entry in reversed(self.history) if "eval_d_neg_minus_d_pos" in entry), None)
        if last is None:
            return None
        where = "held-out" if self.data_args.heldout_pairs else "training"
        rows = "\n".join(
            f"| {name} | {last[name]:.6f} |" for name in ("eval_d_pos", "eval_d_neg", "eval_d_neg_minus_d_pos")
        )
        return f"Noise-prediction errors on {where} pairs at step {last['step']}:\n\n| metric | value |\n|---|---|\n{rows}\n"
