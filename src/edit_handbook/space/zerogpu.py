"""`gpu_task`: Hugging Face's `spaces.GPU` where the `spaces` package exists (ZeroGPU Spaces), else a no-op.

On ZeroGPU hardware a GPU is attached only while a function wrapped by `spaces.GPU` runs; elsewhere (CPU, a
dedicated GPU, a laptop) the package is absent or its decorator does nothing, so the same app runs everywhere.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar


F = TypeVar("F", bound=Callable)


def gpu_task(duration: int = 120) -> Callable[[F], F]:
    """Wrap a handler so ZeroGPU lends it a GPU for up to `duration` seconds a call."""
    try:
        # Imported by name: run from this repository's root, `import spaces` finds the `spaces/` folder instead.
        from spaces import GPU
    except ImportError:
        return lambda function: function
    return GPU(duration=duration)
