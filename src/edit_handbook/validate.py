"""`edit-handbook validate`: load any edit-pair dataset through the data layer and print its validation report.

edit-handbook validate --dataset_name path/to/manifest.jsonl --dataset_on_error skip
edit-handbook validate --dataset_preset magicbrush --dataset_validation sample
"""

from __future__ import annotations

import json
import sys

from trl import TrlParser

from edit_handbook.data.configs import DataArguments
from edit_handbook.data.loading import load_edit_pairs


def make_parser() -> TrlParser:
    return TrlParser((DataArguments,))


def main(argv: list[str] | None = None) -> int:
    """Exit status 0 when the dataset loads (bad rows skipped if asked), 1 on a validation error."""
    (args,) = make_parser().parse_args_and_config(argv)
    try:
        _, report = load_edit_pairs(**args.load_kwargs())
    except ValueError as error:
        print(f"invalid: {error}")
        return 1
    print(report.summary())
    print(json.dumps(report.to_dict(), indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
