"""The EMA weights of a SuperEdit checkpoint as safetensors plus a JSON of its counters.

accelerate saves objects registered for checkpointing with `torch.save` and loads them back with
`torch.load(weights_only=False)`, which unpickles whatever the file holds. The EMA is our own state, so it
goes through safetensors instead: resuming reads tensors and JSON, never a pickle. (accelerate's and
DeepSpeed's own files in the checkpoint, optimizer and RNG states, are still loaded by those libraries.)
"""

from __future__ import annotations

import json
from pathlib import Path

from diffusers.training_utils import EMAModel
from safetensors.torch import load_file, save_file


EMA_WEIGHTS, EMA_STATE = "ema.safetensors", "ema.json"


def save_ema(ema: EMAModel, folder: str | Path) -> None:
    """Write the shadow weights (`shadow.00000`, ... in parameter order) and the scalar state."""
    folder = Path(folder)
    state = ema.state_dict()
    shadows = state.pop("shadow_params")
    save_file({f"shadow.{i:05d}": t.detach().cpu().contiguous() for i, t in enumerate(shadows)}, folder / EMA_WEIGHTS)
    (folder / EMA_STATE).write_text(json.dumps(state, indent=2, sort_keys=True) + "\n")


def load_ema(ema: EMAModel, folder: str | Path) -> None:
    """Restore what `save_ema` wrote into `ema` (on the device its shadows are on)."""
    folder = Path(folder)
    if not (folder / EMA_WEIGHTS).is_file():
        raise FileNotFoundError(
            f"{folder} has no {EMA_WEIGHTS}: it was not written with use_ema, or by an older version; resume "
            "without use_ema, or from a checkpoint that has it"
        )
    tensors = load_file(folder / EMA_WEIGHTS)
    if len(tensors) != len(ema.shadow_params):
        raise ValueError(
            f"{folder / EMA_WEIGHTS} holds {len(tensors)} weights, the model has {len(ema.shadow_params)}: it "
            "belongs to another model; resume from this run's own checkpoints"
        )
    device = ema.shadow_params[0].device if ema.shadow_params else "cpu"
    state = json.loads((folder / EMA_STATE).read_text())
    state["shadow_params"] = [tensors[f"shadow.{i:05d}"].to(device) for i in range(len(tensors))]
    ema.load_state_dict(state)
