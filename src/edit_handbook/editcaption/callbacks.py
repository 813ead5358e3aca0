"""Stop SFT once the exact checker accepts enough of the model's own outputs on synthetic pairs.

Synthetic pairs carry their edit's ground truth, so "has the captioner learned them?" has an exact answer
(`check_instruction`), no judge needed. The smoke recipe trains until that answer is yes for a share of its
pairs rather than for a guessed number of steps: on a shared CPU the number of steps it takes varies.
"""

from __future__ import annotations

from transformers import TrainerCallback

from edit_handbook.data.synthetic import check_instruction


class CheckerAccuracyCallback(TrainerCallback):
    """Every `every` steps, caption `pairs` greedily, log `checker_accuracy`, stop at `target` or above."""

    def __init__(self, pairs, processor, *, every: int, target: float):
        self.pairs, self.processor, self.every, self.target = pairs, processor, every, target

    def on_step_end(self, args, state, control, model=None, **kwargs):
        if state.global_step % self.every:
            return control
        from edit_handbook.editcaption.inference import describe_edit

        outputs = describe_edit(
            model, self.processor, self.pairs["source_image"], self.pairs["target_image"], batch_size=32
        )
        correct = sum(check_instruction(text, spec).correct for text, spec in zip(outputs, self.pairs["edit_spec"]))
        accuracy = correct / len(outputs)
        state.log_history.append({"step": state.global_step, "checker_accuracy": accuracy})
        print(f"step {state.global_step}: checker accepts {accuracy:.0%} of {len(outputs)} pairs", flush=True)
        if accuracy >= self.target:
            control.should_training_stop = True
        return control
