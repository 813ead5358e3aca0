"""Edit pairs -> TRL prompt-completion examples for the instruction writer.

Each example has `images` = [source, edited], a conversational `prompt` (system + user turn with two
labelled image placeholders, from `prompts`) and a `completion` (the assistant turn holding the answer).
With the prompt-completion format TRL's vision collator masks everything but the completion, so the loss
falls only on the answer and its end token, never on the system prompt, the user text or the image tokens.

Images are passed through undecoded (PNG bytes or paths), so converting 100K pairs re-encodes nothing.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import partial

import datasets
from transformers import PreTrainedTokenizerBase

from edit_handbook.data import schema
from edit_handbook.data.validation import DataValidationError
from edit_handbook.editcaption.prompts import CLIP_MAX_TOKENS, TASKS, completion_messages, get_task, prompt_messages


# The canonical column that holds each task's answer.
ANSWER_COLUMN = {"caption": schema.INSTRUCTION, "rectify": schema.RECTIFIED, "describe": "source_description"}
# `describe` makes one single-image example per image of the pair: (image column, answer column).
DESCRIBE_COLUMNS = ((schema.SOURCE_IMAGE, "source_description"), (schema.TARGET_IMAGE, "target_description"))
FLAWED_COLUMN = "flawed_instructions"  # synthetic rows' realistic wrong instructions (the rectify hints)
SFT_FEATURES = datasets.Features(
    {
        "images": datasets.Sequence(datasets.Image()),
        "prompt": [
            {
                "role": datasets.Value("string"),
                "content": [{"type": datasets.Value("string"), "text": datasets.Value("string")}],
            }
        ],
        "completion": [
            {
                "role": datasets.Value("string"),
                "content": [{"type": datasets.Value("string"), "text": datasets.Value("string")}],
            }
        ],
        "task": datasets.Value("string"),
    }
)


def clip_token_count(text: str, clip_tokenizer: PreTrainedTokenizerBase) -> int:
    """Tokens CLIP's text encoder sees for `text`, begin and end tokens included (the 77-token budget)."""
    return len(clip_tokenizer(text, truncation=False)["input_ids"])


def _hint(batch: dict, position: int, index: int) -> str:
    """The claimed edit `rectify` shows: on synthetic rows (which carry flawed instructions) every other row gets
    a flawed one, so neither "copy the hint" nor "the hint is wrong" can be learned from the text alone."""
    flawed = (batch.get(FLAWED_COLUMN) or [None] * (position + 1))[position]
    if flawed and index % 2:
        return flawed[(index // 2) % len(flawed)]
    return batch[schema.INSTRUCTION][position]


def _examples(batch: dict, indices: list[int], tasks: Sequence[str], clip_tokenizer, max_clip_tokens: int) -> dict:
    out: dict[str, list] = {name: [] for name in SFT_FEATURES}
    for position, index in enumerate(indices):
        images = [batch[schema.SOURCE_IMAGE][position], batch[schema.TARGET_IMAGE][position]]
        for task in tasks:
            if task == "describe":
                for image_column, answer_column in DESCRIBE_COLUMNS:
                    out["images"].append([batch[image_column][position]])
                    out["prompt"].append(prompt_messages(task))
                    out["completion"].append(completion_messages(batch[answer_column][position]))
                    out["task"].append(task)
                continue
            column = ANSWER_COLUMN[task]
            answer = (batch.get(column) or [None] * len(indices))[position]
            if not answer or not answer.strip():
                raise DataValidationError(
                    index,
                    column,
                    f"empty answer for task {task!r}",
                    f"fill `{column}` for every row, or drop {task!r} from the tasks",
                )
            if task == "rectify" and clip_tokenizer is not None:
                count = clip_token_count(answer, clip_tokenizer)
                if count > max_clip_tokens:
                    raise DataValidationError(
                        index,
                        column,
                        f"{count} CLIP tokens, over SuperEdit's {max_clip_tokens}",
                        "summarise the description (do not truncate it) or filter such rows before training",
                    )
            out["images"].append(images)
            out["prompt"].append(prompt_messages(task, _hint(batch, position, index)))
            out["completion"].append(completion_messages(answer.strip()))
            out["task"].append(task)
    return out


def to_sft_examples(
    dataset: datasets.Dataset,
    tasks: Sequence[str] = ("caption",),
    *,
    clip_tokenizer: PreTrainedTokenizerBase | None = None,
    max_clip_tokens: int = CLIP_MAX_TOKENS,
    num_proc: int | None = None,
) -> datasets.Dataset:
    """One example per (row, task), in row order; several tasks mix them in one dataset.

    `rectify` answers over `max_clip_tokens` CLIP tokens (counted with `clip_tokenizer`) are an error naming
    the row: SuperEdit's descriptions must be summarised to fit, and a silently truncated target would teach
    the model to stop mid-sentence.
    """
    for task in tasks:
        get_task(task)
    if not tasks:
        raise ValueError(f"give at least one task from {', '.join(TASKS)}")
    needed = {ANSWER_COLUMN[t] for t in tasks} | ({c for _, c in DESCRIBE_COLUMNS} if "describe" in tasks else set())
    missing = needed - set(dataset.column_names)
    if missing:
        raise DataValidationError(
            None,
            ", ".join(sorted(missing)),
            "column missing for the chosen tasks",
            "map it with dataset_column_mapping, or train only the tasks the data has answers for",
        )
    raw = dataset
    for column in (schema.SOURCE_IMAGE, schema.TARGET_IMAGE):
        raw = raw.cast_column(column, datasets.Image(decode=False))
    return raw.map(
        partial(_examples, tasks=tuple(tasks), clip_tokenizer=clip_tokenizer, max_clip_tokens=max_clip_tokens),
        batched=True,
        with_indices=True,
        remove_columns=raw.column_names,
        features=SFT_FEATURES,
        num_proc=num_proc,
        desc=f"SFT examples ({'+'.join(tasks)})",
    )


def load_sft_datasets(script_args, *, evaluate: bool, clip_tokenizer: PreTrainedTokenizerBase | None = None):
    """(train, eval or None, validation report) for `SFTScriptArguments`, as prompt-completion examples.

    With `evaluate`, the eval set is the held-out `dataset_eval_fraction` of the train split if that is set,
    else `dataset_test_split`.
    """
    from edit_handbook.data.loading import load_edit_pairs

    kwargs = script_args.load_kwargs()
    train, report = load_edit_pairs(**kwargs)
    if script_args.dataset_shuffle_images:
        train = shuffle_images(train, script_args.dataset_seed)
    evaluation = None
    if evaluate and script_args.dataset_eval_fraction > 0:
        split = train.train_test_split(test_size=script_args.dataset_eval_fraction, seed=script_args.dataset_seed)
        train, evaluation = split["train"], split["test"]
    elif evaluate:
        evaluation, _ = load_edit_pairs(**script_args.load_kwargs(script_args.dataset_test_split))

    def convert(dataset):
        return to_sft_examples(
            dataset,
            script_args.tasks,
            clip_tokenizer=clip_tokenizer,
            max_clip_tokens=script_args.max_rectify_clip_tokens,
        )

    return convert(train), (convert(evaluation) if evaluation is not None else None), report


def checker_callback(script_args, processor):
    """`CheckerAccuracyCallback` on fresh validation pairs (`checker_eval_seed`), or on the synthetic training pairs
    (regenerated: the examples lost `edit_spec`) when no validation seed is given."""
    from edit_handbook.data.loading import SYNTHETIC
    from edit_handbook.data.synthetic import generate_dataset
    from edit_handbook.editcaption.callbacks import CheckerAccuracyCallback

    held_out = script_args.checker_eval_seed is not None
    if (script_args.dataset_name or SYNTHETIC) != SYNTHETIC or (script_args.dataset_eval_fraction and not held_out):
        raise ValueError(
            "checker evaluation needs dataset_name: synthetic (the checker needs each pair's edit_spec); without "
            "checker_eval_seed it checks the training pairs, so unset dataset_eval_fraction"
        )
    if held_out and script_args.checker_eval_seed == script_args.dataset_seed:
        raise ValueError(
            f"checker_eval_seed {script_args.checker_eval_seed} is the training seed: choose a validation seed"
        )
    pairs = generate_dataset(
        script_args.checker_eval_pairs if held_out else script_args.dataset_synthetic_pairs,
        seed=script_args.checker_eval_seed if held_out else script_args.dataset_seed,
        image_size=script_args.dataset_synthetic_image_size,
        edit_types=tuple(script_args.dataset_synthetic_edit_types or ()) or None,
    )
    return CheckerAccuracyCallback(
        pairs,
        processor,
        every=script_args.checker_eval_steps,
        target=script_args.stop_at_checker_accuracy,
        label=f"fresh pairs (seed {script_args.checker_eval_seed})" if held_out else "training pairs",
    )


def shuffle_images(dataset: datasets.Dataset, seed: int) -> datasets.Dataset:
    """The blind control's data: every row keeps all its texts (instruction, rectification, scene descriptions) but
    shows another row's images, so no answer can be read from the images it is shown with."""
    import numpy as np

    cycle = np.random.default_rng(seed).permutation(len(dataset))
    order = np.empty_like(cycle)
    order[cycle] = np.roll(cycle, -1)  # row cycle[i] shows the images of row cycle[i + 1]: never its own
    images = dataset.select_columns(list(schema.IMAGE_COLUMNS)).select(order)
    rest = dataset.remove_columns(list(schema.IMAGE_COLUMNS))
    return datasets.concatenate_datasets([rest, images.flatten_indices()], axis=1)
