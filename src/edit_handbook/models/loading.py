"""Load a captioner VLM with its processor, or an InstructPix2Pix pipeline (optionally made from SD1.5)."""

from __future__ import annotations

import re
from pathlib import Path

import torch
from diffusers import StableDiffusionInstructPix2PixPipeline, UNet2DConditionModel
from transformers import AutoModelForImageTextToText, AutoProcessor, PreTrainedModel, ProcessorMixin


TORCHVISION_HELP = (
    "Loading a Qwen-VL processor needs torchvision: in transformers 5 its image and video processors are "
    "torchvision-backed, and `AutoProcessor` fails without them. `import torchvision` failed with: {error!r}. "
    "Install the torchvision release built for your torch ({torch}) from the same index, e.g. "
    "`pip install torch==2.15.0 torchvision==0.29.2`. Do not pair a CPU-only '+cpu' torch wheel with a "
    "registry torchvision: it breaks at import with 'operator torchvision::nms does not exist'."
)


def require_torchvision() -> None:
    """Fail with the fix spelled out, instead of a type error deep inside `ProcessorMixin`."""
    try:
        import torchvision  # noqa: F401
    except Exception as error:  # a mismatched build raises RuntimeError, not ImportError
        raise ImportError(TORCHVISION_HELP.format(error=error, torch=torch.__version__)) from error


# Recipe stage folder -> the command that runs it (recipes/<family>/<model>/<stage>/config_*.yaml).
_STAGE_COMMANDS = {"train": "train-superedit"}


def _looks_local(name: str) -> bool:
    """A name meant as a folder of this machine, not a Hub id: an explicit path, more than `owner/name`, or
    `owner/name` whose first part is a local folder (`outputs/run`)."""
    if name.startswith((".", "/", "~")):
        return True
    parts = Path(name).parts
    return len(parts) > 2 or (len(parts) == 2 and Path(parts[0]).is_dir())


def recipe_writing(folder: str, recipes_dir: str | Path = "recipes") -> Path | None:
    """The recipe whose `output_dir` is `folder` (the one to run first), if any."""
    wanted = Path(folder).as_posix().rstrip("/")
    pattern = re.compile(r"^output_dir:\s*['\"]?([^'\"#\s]+)", re.MULTILINE)
    for recipe in sorted(Path(recipes_dir).glob("**/*.yaml")):
        match = pattern.search(recipe.read_text(errors="replace"))
        if match and match.group(1).rstrip("/") == wanted:
            return recipe
    return None


def check_model_location(name_or_path: str | Path) -> None:
    """FileNotFoundError when `name_or_path` is meant as a local folder that does not exist (yet), naming the
    recipe that writes it; otherwise `from_pretrained` would fail with "Repo id must be in the form ..."."""
    name = str(name_or_path)
    if Path(name).expanduser().exists() or not _looks_local(name):
        return
    recipe = recipe_writing(name)
    if recipe is not None:
        stage = recipe.parent.name
        command = f"edit-handbook {_STAGE_COMMANDS.get(stage, stage)} --config {recipe.as_posix()}"
        raise FileNotFoundError(
            f"model_name_or_path {name!r} does not exist yet: it is the output of {recipe.as_posix()}; run that "
            f"recipe first (`{command}`), or point model_name_or_path at a trained checkpoint or a Hub id"
        )
    raise FileNotFoundError(
        f"model_name_or_path {name!r} is not a folder on this machine (and not a Hub id like 'owner/name'); "
        "train it first, or correct the path"
    )


def load_vlm(
    model_name_or_path: str | Path,
    *,
    dtype: str | torch.dtype = "auto",
    attn_implementation: str | None = None,
    device_map: str | dict | None = None,
    trust_remote_code: bool = False,
    min_pixels: int | None = None,
    max_pixels: int | None = None,
) -> tuple[PreTrainedModel, ProcessorMixin]:
    """A vision-language model and its processor; `min_pixels`/`max_pixels` bound each image's token count."""
    require_torchvision()
    check_model_location(model_name_or_path)
    model_kwargs: dict = {"dtype": dtype, "trust_remote_code": trust_remote_code}
    if attn_implementation is not None:
        model_kwargs["attn_implementation"] = attn_implementation
    if device_map is not None:
        model_kwargs["device_map"] = device_map
    model = AutoModelForImageTextToText.from_pretrained(model_name_or_path, **model_kwargs)
    pixel_bounds = {
        key: value for key, value in (("min_pixels", min_pixels), ("max_pixels", max_pixels)) if value is not None
    }
    processor = AutoProcessor.from_pretrained(model_name_or_path, trust_remote_code=trust_remote_code, **pixel_bounds)
    return model, processor


def expand_conv_in_for_instruct_pix2pix(unet: UNet2DConditionModel) -> UNet2DConditionModel:
    """Double the UNet's input channels so it also takes the source-image latents, in place.

    InstructPix2Pix concatenates the encoded source image to the noisy latents on the channel axis. The new
    input channels get zero weights, so the expanded UNet computes exactly what the text-to-image UNet did
    until training moves them (the initialisation of Brooks et al., 2023).
    """
    old = unet.conv_in
    if old.in_channels != unet.config.in_channels:
        raise ValueError(
            f"conv_in has {old.in_channels} input channels but the config says {unet.config.in_channels}."
        )
    new = torch.nn.Conv2d(
        2 * old.in_channels,
        old.out_channels,
        kernel_size=old.kernel_size,
        stride=old.stride,
        padding=old.padding,
        bias=old.bias is not None,
        device=old.weight.device,
        dtype=old.weight.dtype,
    )
    with torch.no_grad():
        new.weight.zero_()
        new.weight[:, : old.in_channels].copy_(old.weight)
        if old.bias is not None:
            new.bias.copy_(old.bias)
    unet.conv_in = new
    unet.register_to_config(in_channels=new.in_channels)
    return unet


def load_instruct_pix2pix(
    model_name_or_path: str | Path,
    *,
    dtype: torch.dtype = torch.float32,
    from_sd15: bool = False,
) -> StableDiffusionInstructPix2PixPipeline:
    """An InstructPix2Pix pipeline; with `from_sd15`, a text-to-image SD1.x checkpoint made into a starting point.

    From SD1.x the UNet's `conv_in` is expanded to 8 channels and the safety checker is left out (a training
    start, as in the diffusers example). A checkpoint that already has 8 input channels loads unchanged.
    """
    if not from_sd15:
        pipeline = StableDiffusionInstructPix2PixPipeline.from_pretrained(model_name_or_path, dtype=dtype)
        if pipeline.unet.config.in_channels != 8:
            raise ValueError(
                f"{model_name_or_path} has a {pipeline.unet.config.in_channels}-channel UNet, not InstructPix2Pix's 8; "
                "pass from_sd15=True to start from a text-to-image checkpoint."
            )
        return pipeline
    unet = UNet2DConditionModel.from_pretrained(model_name_or_path, subfolder="unet", dtype=dtype)
    if unet.config.in_channels == 4:
        expand_conv_in_for_instruct_pix2pix(unet)
    return StableDiffusionInstructPix2PixPipeline.from_pretrained(
        model_name_or_path,
        unet=unet,
        dtype=dtype,
        safety_checker=None,
        feature_extractor=None,
        requires_safety_checker=False,
    )
