"""`edit-handbook validate`: load any edit-pair dataset through the data layer and print its validation report.

edit-handbook validate --dataset_name path/to/manifest.jsonl --dataset_on_error skip
edit-handbook validate --dataset_preset magicbrush --dataset_validation sample
"""

from __future__ import annotations

import json
import logging
import sys

from edit_handbook.data.configs import DataArguments
from edit_handbook.data.loading import load_edit_pairs
from edit_handbook.script_utils import ScriptParser, run_reporting_errors, setup_logging


def make_parser() -> ScriptParser:
    return ScriptParser((DataArguments,))


def main(argv: list[str] | None = None) -> int:
    """Exit status 0 when the dataset loads (bad rows skipped if asked), 1 on a validation error."""
    # 1. Parse the recipe and the flags.
    (args,) = make_parser().parse_args_and_config(argv)
    # 2. Logging.
    setup_logging(logging.WARNING)
    # 3. Data: load and check every row (or a sample), then report.
    try:
        _, report = load_edit_pairs(**args.load_kwargs())
    except ValueError as error:
        print(f"invalid: {error}")
        return 1
    print(report.summary())
    print(json.dumps(report.to_dict(), indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(run_reporting_errors(main))
