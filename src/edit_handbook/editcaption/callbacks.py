"""Checker accuracy during SFT: held-out accuracy per failure mode on fresh synthetic pairs, and stopping on it.

Synthetic pairs carry their edit's ground truth, so "does the captioner describe the edit?" has an exact
answer (`check_instruction`), no judge needed. Measured on fresh pairs of a validation seed (never the training
pairs, never the test seed), it is the learning curve, and training can stop on it rather than after a guessed
number of steps (on a shared CPU the number of steps it takes varies).
"""

from __future__ import annotations

from collections import defaultdict

from transformers import TrainerCallback

from edit_handbook.data.synthetic import FAILURE_MODE, check_instruction


def checker_scores(outputs, specs) -> dict[str, float]:
    """`checker_accuracy` over all pairs (an empty answer is wrong) and per failure mode and edit type."""
    import json

    verdicts: dict[str, list[bool]] = defaultdict(list)
    for text, spec in zip(outputs, specs):
        kind = json.loads(spec)["type"] if isinstance(spec, str) else spec["type"]
        correct = bool(text) and check_instruction(text, spec).correct
        for key in ("checker_accuracy", f"checker_accuracy/{FAILURE_MODE[kind]}", f"checker_accuracy/{kind}"):
            verdicts[key].append(correct)
    return {key: sum(values) / len(values) for key, values in verdicts.items()}


def checker_summary(scores: dict[str, float], of: str = "") -> str:
    """'checker accepts 42% [of <of>] (attribute 38%, orientation 19%, viewpoint 69%)' from `checker_scores`."""
    modes = ", ".join(
        f"{k.split('/')[1]} {v:.0%}"
        for k, v in sorted(scores.items())
        if k.count("/") and k.split("/")[1] in set(FAILURE_MODE.values())
    )
    counted = f" of {of}" if of else ""
    return f"checker accepts {scores['checker_accuracy']:.0%}{counted} ({modes})"


class CheckerAccuracyCallback(TrainerCallback):
    """Every `every` steps, caption `pairs` greedily, log the checker's scores, stop at `target` (if set) or above."""

    def __init__(self, pairs, processor, *, every: int, target: float | None, label: str = "pairs"):
        self.pairs, self.processor, self.every, self.target, self.label = pairs, processor, every, target, label

    def on_step_end(self, args, state, control, model=None, **kwargs):
        if state.global_step % self.every:
            return control
        from edit_handbook.editcaption.inference import describe_edit

        outputs = describe_edit(
            model, self.processor, self.pairs["source_image"], self.pairs["target_image"], batch_size=32
        )
        scores = checker_scores(outputs, self.pairs["edit_spec"])
        state.log_history.append({"step": state.global_step, **scores})
        print(f"step {state.global_step}: {checker_summary(scores, f'{len(outputs)} {self.label}')}", flush=True)
        if self.target is not None and scores["checker_accuracy"] >= self.target:
            control.should_training_stop = True
        return control
