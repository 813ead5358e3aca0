"""SuperEdit training throughput, side by side in one run (random weights, real architectures).

(a) reference: what the diffusers InstructPix2Pix example does each step (VAE and text encoder run on
    every batch, one UNet call, no triplet term);
(b) naive triplet on cached inputs (the anchor's definition): cached latents and text embeddings, then one
    UNet call for the positive and a second one for the negative prompt;
(c) ours: `edit_handbook.superedit.step.superedit_step` on the same cached inputs, triplet on, positive and
    negative in ONE UNet call with no negative rows for dropped texts, the UNet in channels-last memory
    format and compiled with `torch.compile` (`--compile`, default on for CUDA; the same fallback as the
    trainer: a compile that cannot run is logged and (c) runs eagerly).

    python benchmarks/bench_superedit.py --device cuda --model-size sd15 --resolution 512 --batch-size 8
    python benchmarks/bench_superedit.py --tiny    # CPU plumbing check, well under 2 minutes

The last line printed holds every ratio; `--output` also writes them as JSON.
"""

from __future__ import annotations

import argparse
import json
import resource
import sys
import time
from collections.abc import Callable
from pathlib import Path

import torch
from diffusers import AutoencoderKL, DDPMScheduler, UNet2DConditionModel
from transformers import CLIPTextConfig, CLIPTextModel

from edit_handbook.models.acceleration import compile_in_place
from edit_handbook.superedit.losses import conditioning_dropout_masks, superedit_loss
from edit_handbook.superedit.step import EncodedBatch, superedit_step


SIZES = {
    # Stable Diffusion 1.5 with InstructPix2Pix's 8-channel UNet (860M parameters).
    "sd15": {
        "unet": dict(
            block_out_channels=(320, 640, 1280, 1280), layers_per_block=2, in_channels=8, out_channels=4,
            cross_attention_dim=768, attention_head_dim=8, sample_size=64,
        ),
        "vae": dict(
            block_out_channels=(128, 256, 512, 512), down_block_types=("DownEncoderBlock2D",) * 4,
            up_block_types=("UpDecoderBlock2D",) * 4, layers_per_block=2, latent_channels=4, sample_size=512,
        ),
        "text": dict(hidden_size=768, intermediate_size=3072, num_attention_heads=12, num_hidden_layers=12),
    },
    # The tiny pipeline of docs/environment.md (the smoke recipe's model).
    "tiny": {
        "unet": dict(
            block_out_channels=(32, 64), layers_per_block=1, sample_size=16, in_channels=8, out_channels=4,
            down_block_types=("CrossAttnDownBlock2D", "DownBlock2D"), up_block_types=("UpBlock2D", "CrossAttnUpBlock2D"),
            cross_attention_dim=32, norm_num_groups=8, attention_head_dim=4,
        ),
        "vae": dict(
            block_out_channels=(32, 64), down_block_types=("DownEncoderBlock2D",) * 2,
            up_block_types=("UpDecoderBlock2D",) * 2, latent_channels=4, norm_num_groups=8, sample_size=32,
        ),
        "text": dict(hidden_size=32, intermediate_size=64, num_attention_heads=4, num_hidden_layers=2),
    },
}  # fmt: skip
SCALING_FACTOR = 0.18215
DROPOUT = 0.05


class Setup:
    """Random-weight models and one fixed batch of pixels and token ids."""

    def __init__(self, args: argparse.Namespace) -> None:
        size, device = SIZES[args.model_size], torch.device(args.device)
        self.device, self.batch_size = device, args.batch_size
        self.dtype = torch.bfloat16 if args.mixed_precision == "bf16" else torch.float32
        self.unet = UNet2DConditionModel(**size["unet"]).to(device)
        if args.gradient_checkpointing:
            self.unet.enable_gradient_checkpointing()
        self.vae = AutoencoderKL(**size["vae"]).to(device, self.dtype).requires_grad_(False)
        text_config = CLIPTextConfig(vocab_size=49408, max_position_embeddings=77, **size["text"])
        self.text_encoder = CLIPTextModel(text_config).to(device, self.dtype).requires_grad_(False)
        self.scheduler = DDPMScheduler(beta_schedule="scaled_linear", beta_start=0.00085, beta_end=0.012)
        b, r = args.batch_size, args.resolution
        self.source = torch.rand(b, 3, r, r, device=device) * 2 - 1
        self.target = torch.rand(b, 3, r, r, device=device) * 2 - 1
        self.positive_ids = torch.randint(0, 49408, (b, 77), device=device)
        self.negative_ids = torch.randint(0, 49408, (b, 77), device=device)
        self.null_ids = torch.randint(0, 49408, (1, 77), device=device)
        with torch.no_grad():  # (c)'s caches: what the trainer reads from disk instead of recomputing
            self.cached = EncodedBatch(
                source_latents=self.vae.encode(self.source.to(self.dtype)).latent_dist.mode().float(),
                target_moments=self.vae.encode(self.target.to(self.dtype)).latent_dist.parameters.float(),
                positive_embeds=self.text_encoder(self.positive_ids)[0],
                negative_embeds=self.text_encoder(self.negative_ids)[0],
                null_embeds=self.text_encoder(self.null_ids)[0],
            )

    def autocast(self):
        return torch.autocast(self.device.type, dtype=self.dtype, enabled=self.dtype != torch.float32)

    @torch.no_grad()
    def encode_every_step(self) -> tuple[EncodedBatch, torch.Tensor]:
        """What the diffusers example computes per batch: both images through the VAE, the prompt through CLIP."""
        source = self.vae.encode(self.source.to(self.dtype)).latent_dist.mode()
        latents = self.vae.encode(self.target.to(self.dtype)).latent_dist.sample() * SCALING_FACTOR
        batch = EncodedBatch(
            source_latents=source.float(),
            target_moments=torch.empty(0),
            positive_embeds=self.text_encoder(self.positive_ids)[0],
            negative_embeds=None,
            null_embeds=self.text_encoder(self.null_ids)[0],
        )
        return batch, latents.float()

    def cached_inputs(self) -> tuple[EncodedBatch, torch.Tensor]:
        """(b)'s inputs: the cached batch, a target latent sampled from its cached distribution."""
        moments = self.cached.target_moments
        mean, logvar = moments.chunk(2, dim=1)
        latents = (mean + torch.exp(0.5 * logvar.clamp(-30.0, 20.0)) * torch.randn_like(mean)) * SCALING_FACTOR
        return self.cached, latents

    def two_call_loss(self, batch: EncodedBatch, latents: torch.Tensor) -> torch.Tensor:
        """(a) without a negative; (b) with one: a separate UNet call per prompt."""
        noise = torch.randn_like(latents)
        timesteps = torch.randint(0, 1000, (self.batch_size,), device=self.device)
        noisy = self.scheduler.add_noise(latents, noise, timesteps)
        text_kept, image_kept = conditioning_dropout_masks(torch.rand(self.batch_size, device=self.device), DROPOUT)
        keep = text_kept[:, None, None]
        source = batch.source_latents * image_kept[:, None, None, None]
        model_input = torch.cat([noisy, source], dim=1)
        positive = torch.where(keep, batch.positive_embeds, batch.null_embeds)
        e_pos = self.unet(model_input, timesteps, positive, return_dict=False)[0]
        e_neg = None
        if batch.negative_embeds is not None:
            negative = torch.where(keep, batch.negative_embeds, batch.null_embeds)
            e_neg = self.unet(model_input, timesteps, negative, return_dict=False)[0]
        return superedit_loss(e_pos, noise, e_neg, text_kept, margin=5e-3, weight=1.0).loss

    def reference_loss(self) -> torch.Tensor:
        return self.two_call_loss(*self.encode_every_step())

    def naive_triplet_loss(self) -> torch.Tensor:
        return self.two_call_loss(*self.cached_inputs())

    def ours_loss(self) -> torch.Tensor:
        return superedit_step(
            self.unet, self.scheduler, self.cached, generator=None, scaling_factor=SCALING_FACTOR,
            dropout_probability=DROPOUT, triplet_on=True, margin=5e-3, weight=1.0,
        ).loss  # fmt: skip


def measure(setup: Setup, loss_fn: Callable[[], torch.Tensor], steps: int, warmup: int) -> tuple[float, float | None]:
    """(images per second, peak GPU memory in GiB or None on CPU) of full optimisation steps."""
    optimizer = torch.optim.AdamW(setup.unet.parameters(), lr=1e-5, fused=setup.device.type == "cuda")
    cuda = setup.device.type == "cuda"

    def step() -> None:
        with setup.autocast():
            loss = loss_fn()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(setup.unet.parameters(), 1.0)
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)

    for _ in range(warmup):
        step()
    if cuda:
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
    start = time.perf_counter()
    for _ in range(steps):
        step()
    if cuda:
        torch.cuda.synchronize()
    elapsed = time.perf_counter() - start
    peak = torch.cuda.max_memory_allocated() / 2**30 if cuda else None
    return steps * setup.batch_size / elapsed, peak


TINY = ["--device", "cpu", "--model-size", "tiny", "--resolution", "32", "--batch-size", "8", "--steps", "6",
        "--warmup", "2", "--mixed-precision", "no"]  # fmt: skip


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tiny", action="store_true", help="the CPU plumbing setting: " + " ".join(TINY))
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--model-size", choices=sorted(SIZES), default="sd15")
    parser.add_argument("--resolution", type=int, default=512)
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--mixed-precision", choices=("bf16", "no"), default="bf16")
    parser.add_argument("--gradient-checkpointing", action="store_true")
    parser.add_argument("--compile", choices=("auto", "on", "off"), default="auto", help="(c): torch.compile the UNet")
    parser.add_argument("--compile-warmup", type=int, default=3, help="(c): extra warm-up steps that compile")
    parser.add_argument("--output", type=Path, help="also write the results as JSON here")
    argv = sys.argv[1:] if argv is None else argv
    args = parser.parse_args(argv)
    if args.tiny:  # the preset first: flags given after --tiny override it
        args = parser.parse_args([*TINY, *argv])
    if args.device == "cuda":
        torch.backends.cuda.matmul.allow_tf32 = True
    setup = Setup(args)
    device = torch.cuda.get_device_name() if args.device == "cuda" else f"CPU x {torch.get_num_threads()} threads"
    print(f"device={device} model={args.model_size} resolution={args.resolution} batch={args.batch_size} "
          f"precision={args.mixed_precision} steps={args.steps} (+{args.warmup} warm-up)", flush=True)  # fmt: skip
    results: dict[str, dict] = {}
    summary = {
        "benchmark": "superedit", "device": device, "args": {k: str(v) for k, v in vars(args).items()},
        "results": results, "ratios": {}, "goals": {"c/a": 1.3, "c/b": 1.4},
    }  # fmt: skip

    def record(key: str, label: str, loss_fn, warmup: int) -> None:
        rate, peak = measure(setup, loss_fn, args.steps, warmup)
        results[key] = {"label": label, "images_per_s": rate, "peak_gpu_gib": peak}
        print(
            f"{label:66s} {rate:9.2f} img/s   peak {f'{peak:.2f} GiB' if peak is not None else 'n/a (CPU)'}",
            flush=True,
        )
        ours = results.get("c", results.get("c_eager"))
        if ours and "a" in results and "b" in results:  # the eager (c) stands in until the compiled one ran
            rate_a, rate_b, rate_c = results["a"]["images_per_s"], results["b"]["images_per_s"], ours["images_per_s"]
            summary["ratios"] = {"c/a": rate_c / rate_a, "c/b": rate_c / rate_b}
            summary["ratios"]["c_eager/a"] = results["c_eager"]["images_per_s"] / rate_a
        if args.output:  # after every arm: a run cut short by a timeout keeps what it measured
            args.output.write_text(json.dumps(summary, indent=2))

    record("a", "(a) reference: encoders every step, no triplet", setup.reference_loss, args.warmup)
    record("b", "(b) naive triplet: cached inputs, two UNet calls", setup.naive_triplet_loss, args.warmup)
    setup.unet.to(memory_format=torch.channels_last)
    record(
        "c_eager", "(c) ours, eager: cached, one call, no dropped-text negatives, chl", setup.ours_loss, args.warmup
    )
    enabled = {"auto": None, "on": True, "off": False}[args.compile]
    summary["compile"] = "compiling (a timeout here leaves the eager (c) figures)"
    status = compile_in_place(setup.unet, enabled=enabled, device=setup.device)
    summary["compile"] = status
    print(status, flush=True)
    if status.startswith("torch.compile: on"):
        record("c", "(c) ours, compiled", setup.ours_loss, args.warmup + args.compile_warmup)
    else:
        results["c"] = dict(results["c_eager"], label="(c) ours (compile off: " + status + ")")
    a, b, c = (results[key]["images_per_s"] for key in ("a", "b", "c"))
    ratios = {"c/a": c / a, "c/b": c / b, "c_eager/a": results["c_eager"]["images_per_s"] / a}
    summary["ratios"] = ratios
    summary["process_peak_rss_gib"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20
    if args.output:
        args.output.write_text(json.dumps(summary, indent=2))
    print(
        f"RATIOS superedit: (c)/(a) = {ratios['c/a']:.2f} (goal >= 1.3)  (c)/(b) = {ratios['c/b']:.2f} (goal >= 1.4)  "
        f"(c eager)/(a) = {ratios['c_eager/a']:.2f}  [{device}]",
        flush=True,
    )
    return summary


if __name__ == "__main__":
    main()
