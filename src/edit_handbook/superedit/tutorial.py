"""A tutorial-scale InstructPix2Pix editor that learns synthetic edits on a CPU: its frozen parts, fitted first.

SuperEdit trains only the UNet; the VAE and the CLIP text encoder come frozen from the base model. At
tutorial scale there is no pretrained base, and random frozen parts cannot work: a random VAE does not
reconstruct, and a random text encoder barely tells "make the red circle green" from "... blue". So
`build_tutorial_base` fits both to the synthetic domain first, then saves an ordinary
`StableDiffusionInstructPix2PixPipeline` folder with a fresh UNet, which the SuperEdit trainer fine-tunes:

- VAE (`fit_vae`): two blocks, so a 32 px image is a 16 x 16 x 4 latent (objects stay a few latents wide;
  SD's factor 8 would leave a small object under one latent). Fitted on synthetic images with an L1 + L2
  reconstruction loss on sampled latents (object pixels weighted up) and a small KL term; `scaling_factor` is set to 1 / std of the
  latents, as SD's 0.18215 was chosen.
- Text encoder (`fit_text_encoder`): a 2-layer `CLIPTextModel` with the real CLIP tokenizer, trained to name
  the edit's attributes (type, object colour and shape, new colour, direction, size, pattern, side) with one
  linear head each, read at every position from the end token on (the padding the UNet also attends to).
  The heads are thrown away; what stays is a frozen encoder whose states carry those attributes linearly.
  Rows of the token table that the synthetic vocabulary never uses were never trained: they are zeroed, so
  an unknown word maps to one "unknown" vector, and the checkpoint compresses to almost nothing.
- UNet (`tutorial_unet`): 8 input channels, cross-attention to the text at 8 x 8, and the pooled text
  added to the timestep embedding (`addition_embed_type="text"`) with scale-shift (FiLM) ResNet blocks, so
  the instruction reaches every resolution at no attention cost: recolouring is a per-pixel operation.
- Scheduler: DDIM predicting the clean latent (`prediction_type="sample"`) with trailing timesteps. An edit
  of a synthetic scene is nearly deterministic given the source and the instruction, so the UNet learns one
  mapping (copy the source latent, change what the text names) at every noise level, instead of noise or
  velocity targets that mix in the noise; with v-prediction the same UNet was still a blur after 500 steps.
"""

from __future__ import annotations

import json
import random
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch
from diffusers import AutoencoderKL, DDIMScheduler, StableDiffusionInstructPix2PixPipeline, UNet2DConditionModel
from transformers import CLIPTextConfig, CLIPTextModel, PreTrainedTokenizerBase

from ..data.synthetic import generate_pairs
from ..data.synthetic.edits import sample_edit
from ..data.synthetic.language import rectified_description, reference_instruction
from ..data.synthetic.scene import BACKGROUND
from ..data.synthetic.vocabulary import COLOURS, HEADINGS, PATTERNS, SHAPES


TUTORIAL_EDIT_TYPES = ("recolour", "move", "resize", "add", "remove")
TEXT_MAX_LENGTH = 77
# The attributes the text encoder learns to name; "none" where an edit has no such attribute.
ATTRIBUTES: dict[str, tuple[str, ...]] = {
    "type": TUTORIAL_EDIT_TYPES,
    "colour": tuple(COLOURS),
    "shape": SHAPES,
    "new_colour": ("none", *COLOURS),
    "direction": ("none", *HEADINGS),
    "size": ("none", "larger", "smaller", "small", "large"),
    "pattern": ("none", *PATTERNS),
    "side": ("none", "left", "right"),
}


def edit_attributes(spec: dict) -> dict[str, str]:
    """The attribute labels of an edit spec (what its instruction says)."""
    obj, kind = spec["object"], spec["type"]
    return {
        "type": kind,
        "colour": obj["colour"],
        "shape": obj["shape"],
        "new_colour": spec.get("colour", "none"),
        "direction": spec.get("direction", "none"),
        "size": spec["size"] if kind == "resize" else obj["size"] if kind == "add" else "none",
        "pattern": obj["pattern"] if kind == "add" else "none",
        "side": spec.get("side", "none"),
    }


def synthetic_images(num_pairs: int, *, seed: int, image_size: int) -> torch.Tensor:
    """Sources and targets of `num_pairs` synthetic pairs as a [2N, 3, S, S] tensor in [-1, 1]."""
    images = []
    for row in generate_pairs(num_pairs, seed=seed, image_size=image_size, edit_types=TUTORIAL_EDIT_TYPES):
        images += [np.asarray(row["source_image"]), np.asarray(row["target_image"])]
    return torch.from_numpy(np.stack(images)).permute(0, 3, 1, 2).float() / 127.5 - 1.0


NOISY_COLUMN = "noisy_instruction"


def noisy_instructions(dataset, share: float, *, seed: int):
    """`dataset` with a `noisy_instruction` column: the reference instruction, except on round(share * N) rows
    (chosen by `seed`) where it is one of the row's flawed instructions (a wrong attribute, a vague or another
    edit), as real datasets are partly wrong. Also `instruction_is_noisy`, for the record."""
    if not 0.0 <= share <= 1.0:
        raise ValueError(f"the noisy share must be in [0, 1], got {share}")
    rng = random.Random(f"noisy-instructions:{seed}")
    noisy = set(rng.sample(range(len(dataset)), round(share * len(dataset))))
    texts = [
        rng.choice(flawed) if index in noisy and flawed else reference
        for index, (reference, flawed) in enumerate(zip(dataset["instruction"], dataset["flawed_instructions"]))
    ]
    flags = [text != reference for text, reference in zip(texts, dataset["instruction"])]
    return dataset.add_column(NOISY_COLUMN, texts).add_column("instruction_is_noisy", flags)


def linear_decay(optimizer: torch.optim.Optimizer, steps: int) -> torch.optim.lr_scheduler.LambdaLR:
    """Learning rate falling linearly to a tenth over the fit: short fits end on a small, settling step."""
    return torch.optim.lr_scheduler.LambdaLR(optimizer, lambda step: 1.0 - 0.9 * min(step, steps) / max(steps, 1))


def tutorial_vae(channels: Sequence[int] = (16, 32), image_size: int = 32) -> AutoencoderKL:
    n = len(channels)
    return AutoencoderKL(
        in_channels=3, out_channels=3, latent_channels=4, block_out_channels=tuple(channels),
        down_block_types=("DownEncoderBlock2D",) * n, up_block_types=("UpDecoderBlock2D",) * n,
        layers_per_block=1, norm_num_groups=8, sample_size=image_size, mid_block_add_attention=False,
    )  # fmt: skip


def fit_vae(
    vae: AutoencoderKL,
    images: torch.Tensor,
    *,
    steps: int,
    batch_size: int = 32,
    learning_rate: float = 2e-3,
    kl_weight: float = 1e-4,
    object_weight: float = 20.0,
    seed: int = 0,
    log=print,
) -> AutoencoderKL:
    """Fit the VAE to `images` (L1 + L2 on sampled latents, object pixels weighted 1 + `object_weight`, plus
    kl_weight * KL per latent) and set its scaling factor.

    Objects cover a few percent of a synthetic image: with a plain mean the background dominates, and a fit with a
    low mean error kept the palette colour of only 29% of object pixels in a round trip (92% with the weighting,
    300 steps each; README "Tutorial editor").
    """
    background = torch.tensor(BACKGROUND, dtype=images.dtype).view(1, 3, 1, 1) / 127.5 - 1.0
    generator = torch.Generator().manual_seed(seed)
    optimizer = torch.optim.AdamW(vae.parameters(), learning_rate, weight_decay=0.0)
    schedule = linear_decay(optimizer, steps)
    vae.train()
    for step in range(steps):
        batch = images[torch.randint(0, len(images), (batch_size,), generator=generator)]
        posterior = vae.encode(batch).latent_dist
        latents = posterior.sample(generator)
        error = vae.decode(latents).sample - batch
        kl = posterior.kl().mean() / latents[0].numel()
        weight = 1.0 + object_weight * ((batch - background).abs().sum(1, keepdim=True) > 0.02).float()
        loss = (weight * (error.abs() + error.pow(2))).mean() / weight.mean() + kl_weight * kl
        loss.backward()
        optimizer.step()
        schedule.step()
        optimizer.zero_grad(set_to_none=True)
        if step % 50 == 0 or step == steps - 1:
            log(
                {
                    "stage": "vae",
                    "step": step,
                    "loss": round(loss.item(), 5),
                    "mae": round(error.abs().mean().item() / 2, 5),
                }
            )
    vae.eval()
    with torch.no_grad():
        latents = torch.cat([vae.encode(chunk).latent_dist.mode() for chunk in images[:512].split(64)])
    vae.register_to_config(scaling_factor=float(1.0 / latents.std()))
    return vae


def instruction_corpus(num_texts: int, *, seed: int) -> tuple[list[str], list[dict[str, str]]]:
    """Reference instructions and rectified descriptions of random edits, with their attribute labels."""
    rng = random.Random(f"tutorial-text:{seed}")
    texts, labels = [], []
    for index in range(num_texts):
        _, _, spec = sample_edit(rng, TUTORIAL_EDIT_TYPES[index % len(TUTORIAL_EDIT_TYPES)])
        write = reference_instruction if index % 2 == 0 else rectified_description
        texts.append(write(spec))
        labels.append(edit_attributes(spec))
    return texts, labels


def tutorial_text_encoder(tokenizer: PreTrainedTokenizerBase, hidden_size: int = 32, seed: int = 0) -> CLIPTextModel:
    with torch.random.fork_rng():
        torch.manual_seed(seed)
        return CLIPTextModel(
            CLIPTextConfig(
                vocab_size=len(tokenizer), hidden_size=hidden_size, intermediate_size=2 * hidden_size,
                num_attention_heads=4, num_hidden_layers=2, max_position_embeddings=TEXT_MAX_LENGTH,
                bos_token_id=tokenizer.bos_token_id, eos_token_id=tokenizer.eos_token_id,
                pad_token_id=tokenizer.pad_token_id,
            )
        )  # fmt: skip


def fit_text_encoder(
    text_encoder: CLIPTextModel,
    tokenizer: PreTrainedTokenizerBase,
    texts: Sequence[str],
    labels: Sequence[dict[str, str]],
    *,
    steps: int,
    batch_size: int = 64,
    learning_rate: float = 3e-3,
    seed: int = 0,
    log=print,
) -> dict[str, float]:
    """Train the encoder to name every attribute from each position after the end token; returns accuracies
    (read at the end token) on the last 10% of `texts`, held out. Unused token rows are zeroed afterwards."""
    ids = tokenizer(
        list(texts), padding="max_length", max_length=TEXT_MAX_LENGTH, truncation=True, return_tensors="pt"
    ).input_ids
    targets = {name: torch.tensor([values.index(row[name]) for row in labels]) for name, values in ATTRIBUTES.items()}
    end = (ids == tokenizer.eos_token_id).int().argmax(1)
    after_end = torch.arange(TEXT_MAX_LENGTH)[None] >= end[:, None]
    hidden = text_encoder.config.hidden_size
    with torch.random.fork_rng():
        torch.manual_seed(seed)
        heads = {name: torch.nn.Linear(hidden, len(values)) for name, values in ATTRIBUTES.items()}
    train_rows = int(0.9 * len(texts))
    parameters = [*text_encoder.parameters(), *(p for head in heads.values() for p in head.parameters())]
    optimizer = torch.optim.AdamW(parameters, learning_rate, weight_decay=0.0)
    schedule = linear_decay(optimizer, steps)
    generator = torch.Generator().manual_seed(seed)
    text_encoder.train()
    for step in range(steps):
        rows = torch.randint(0, train_rows, (batch_size,), generator=generator)
        states = text_encoder(ids[rows]).last_hidden_state[after_end[rows]]
        loss = sum(
            torch.nn.functional.cross_entropy(
                heads[name](states), target[rows][:, None].expand(-1, TEXT_MAX_LENGTH)[after_end[rows]]
            )
            for name, target in targets.items()
        )
        loss.backward()
        optimizer.step()
        schedule.step()
        optimizer.zero_grad(set_to_none=True)
        if step % 50 == 0 or step == steps - 1:
            log({"stage": "text", "step": step, "loss": round(float(loss.detach()), 5)})
    text_encoder.eval()
    with torch.no_grad():
        held = slice(train_rows, None)
        states = text_encoder(ids[held]).last_hidden_state[torch.arange(len(texts) - train_rows), end[held]]
        accuracy = {
            name: float((heads[name](states).argmax(-1) == t[held]).float().mean()) for name, t in targets.items()
        }
        used = torch.zeros(len(tokenizer), dtype=torch.bool)
        used[ids.unique()] = True
        text_encoder.get_input_embeddings().weight[~used] = 0.0
    return accuracy


def tutorial_unet(text_hidden_size: int = 32, latent_size: int = 16, seed: int = 0) -> UNet2DConditionModel:
    with torch.random.fork_rng():
        torch.manual_seed(seed)
        return UNet2DConditionModel(
            sample_size=latent_size, in_channels=8, out_channels=4, layers_per_block=1,
            block_out_channels=(32, 64), down_block_types=("DownBlock2D", "CrossAttnDownBlock2D"),
            up_block_types=("CrossAttnUpBlock2D", "UpBlock2D"), cross_attention_dim=text_hidden_size,
            norm_num_groups=8, attention_head_dim=4, addition_embed_type="text",
            addition_embed_type_num_heads=4, resnet_time_scale_shift="scale_shift",
        )  # fmt: skip


def tutorial_scheduler() -> DDIMScheduler:
    return DDIMScheduler(
        num_train_timesteps=1000, beta_start=0.00085, beta_end=0.012, beta_schedule="scaled_linear",
        prediction_type="sample", timestep_spacing="trailing", clip_sample=False, set_alpha_to_one=False,
    )  # fmt: skip


def build_tutorial_base(
    folder: str | Path,
    tokenizer: PreTrainedTokenizerBase,
    *,
    image_size: int = 32,
    vae_steps: int = 300,
    text_steps: int = 300,
    text_hidden_size: int = 32,
    seed: int = 0,
    log=print,
) -> Path:
    """Fit the VAE and the text encoder, add a fresh UNet and the scheduler, save the pipeline to `folder`."""
    folder = Path(folder)
    if (folder / "vae" / "config.json").is_file():  # each fitted part is saved at once: a rerun resumes after it
        vae = AutoencoderKL.from_pretrained(folder / "vae")
    else:
        images = synthetic_images(1500, seed=seed + 7, image_size=image_size)
        vae = fit_vae(tutorial_vae(image_size=image_size), images, steps=vae_steps, seed=seed, log=log)
        vae.save_pretrained(folder / "vae")
    if (folder / "text_encoder" / "config.json").is_file():
        text_encoder = CLIPTextModel.from_pretrained(folder / "text_encoder")
    else:
        text_encoder = tutorial_text_encoder(tokenizer, text_hidden_size, seed)
        texts, labels = instruction_corpus(4000, seed=seed)
        accuracy = fit_text_encoder(text_encoder, tokenizer, texts, labels, steps=text_steps, seed=seed, log=log)
        log({"stage": "text", "heldout_attribute_accuracy": accuracy})
        text_encoder.save_pretrained(folder / "text_encoder")
        (folder / "text_fit.json").write_text(json.dumps({"heldout_attribute_accuracy": accuracy}, indent=2) + "\n")
    factor = 2 ** (len(vae.config.block_out_channels) - 1)
    pipeline = StableDiffusionInstructPix2PixPipeline(
        vae=vae, text_encoder=text_encoder, tokenizer=tokenizer,
        unet=tutorial_unet(text_hidden_size, image_size // factor, seed), scheduler=tutorial_scheduler(),
        safety_checker=None, feature_extractor=None, requires_safety_checker=False,
    )  # fmt: skip
    pipeline.save_pretrained(folder)
    return folder


def prepare_base(folder: str | Path, tokenizer: PreTrainedTokenizerBase, *, reuse: str | None = None, **fit) -> Path:
    """The base pipeline to train: `reuse`'s VAE and text encoder with a fresh UNet, or fitted parts (built once)."""
    folder = Path(folder)
    if (folder / "model_index.json").is_file():
        return folder
    if reuse is None:
        return build_tutorial_base(folder, tokenizer, **fit)
    donor = StableDiffusionInstructPix2PixPipeline.from_pretrained(reuse)
    factor = 2 ** (len(donor.vae.config.block_out_channels) - 1)
    unet = tutorial_unet(donor.text_encoder.config.hidden_size, donor.unet.config.sample_size, fit.get("seed", 0))
    if unet.config.sample_size * factor != fit.get("image_size", 32):
        raise ValueError(f"{reuse} works at {unet.config.sample_size * factor} px, not {fit.get('image_size', 32)}")
    StableDiffusionInstructPix2PixPipeline(
        **{**donor.components, "unet": unet, "scheduler": tutorial_scheduler()}, requires_safety_checker=False
    ).save_pretrained(folder)
    return folder
