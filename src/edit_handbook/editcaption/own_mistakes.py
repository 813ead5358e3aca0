"""Preference pairs from the captioner's own mistakes, as EditCaption's: rejected = what the SFT model wrote.

For each synthetic pair the captioner writes its greedy instruction and `samples` sampled ones; every distinct
output the exact checker rejects becomes a preference row (chosen = the reference instruction, rejected = the
mistake) labelled with the error type and severity of `data.synthetic.grading` (docs/editcaption_study.md).
Pairs the model gets right in every draw give no row. Rows keep the pair's `edit_spec` and `failure_mode`.
"""

from __future__ import annotations

from collections import Counter

import datasets
import torch

from edit_handbook.data import schema
from edit_handbook.data.synthetic.grading import grade_instruction
from edit_handbook.editcaption.inference import describe_edit


PREFERENCE_FEATURES = schema.preference_features(
    edit_spec=datasets.Value("string"), failure_mode=datasets.Value("string")
)


def sample_outputs(
    model, processor, pairs: datasets.Dataset, *, samples: int, temperature: float, seed: int, batch_size: int = 32
) -> list[list[str]]:
    """Per pair: the greedy instruction, then `samples` sampled ones (round k seeded by (seed, k))."""
    sources, targets = pairs[schema.SOURCE_IMAGE], pairs[schema.TARGET_IMAGE]
    rounds = [describe_edit(model, processor, sources, targets, batch_size=batch_size)]
    for k in range(samples):
        torch.manual_seed(seed * 1000 + k)
        rounds.append(
            describe_edit(
                model, processor, sources, targets, batch_size=batch_size, do_sample=True, temperature=temperature
            )
        )
    return [list(outputs) for outputs in zip(*rounds)]


def mistake_rows(pairs: datasets.Dataset, outputs: list[list[str]]) -> tuple[dict[str, list], Counter]:
    """Preference columns from each pair's outputs (distinct wrong ones), and a count of every verdict seen."""
    columns: dict[str, list] = {name: [] for name in PREFERENCE_FEATURES}
    verdicts: Counter = Counter()
    specs, ids = pairs["edit_spec"], pairs[schema.ID]
    raw = pairs.cast_column(schema.SOURCE_IMAGE, datasets.Image(decode=False)).cast_column(
        schema.TARGET_IMAGE, datasets.Image(decode=False)
    )
    for index, texts in enumerate(outputs):
        seen = set()
        for text in texts:
            grade = grade_instruction(text, specs[index])
            verdicts[grade.verdict] += 1
            if grade.correct or text in seen:
                continue
            seen.add(text)
            row = raw[index]
            columns[schema.ID].append(f"{ids[index]}-own-{len(seen) - 1}")
            columns[schema.SOURCE_IMAGE].append(row[schema.SOURCE_IMAGE])
            columns[schema.TARGET_IMAGE].append(row[schema.TARGET_IMAGE])
            columns[schema.CHOSEN].append(row[schema.INSTRUCTION])
            columns[schema.REJECTED].append(text)
            columns[schema.ERROR_TYPE].append(grade.error_type)
            columns[schema.SEVERITY].append(grade.verdict)
            columns["edit_spec"].append(specs[index])
            columns["failure_mode"].append(row["failure_mode"])
    return columns, verdicts


def own_mistake_pairs(
    model,
    processor,
    pairs: datasets.Dataset,
    *,
    samples: int = 4,
    temperature: float = 1.0,
    seed: int = 0,
    batch_size: int = 32,
) -> tuple[datasets.Dataset, dict]:
    """(preference rows of the model's own mistakes on `pairs`, a summary of what it wrote)."""
    outputs = sample_outputs(
        model, processor, pairs, samples=samples, temperature=temperature, seed=seed, batch_size=batch_size
    )
    columns, verdicts = mistake_rows(pairs, outputs)
    rows = datasets.Dataset.from_dict(columns, features=PREFERENCE_FEATURES)
    summary = {
        "pairs": len(pairs),
        "draws_per_pair": samples + 1,
        "temperature": temperature,
        "verdicts": dict(verdicts),
        "rows": len(rows),
        "pairs_with_a_mistake": len({row_id.rsplit("-own-", 1)[0] for row_id in columns[schema.ID]}),
        "severity": dict(Counter(columns[schema.SEVERITY])),
        "error_type": dict(Counter(columns[schema.ERROR_TYPE])),
    }
    return rows, summary
