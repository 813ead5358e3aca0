"""Every recipe YAML parses with the parser of the script that runs it (new recipes join automatically)."""

from pathlib import Path

import pytest

from edit_handbook.cli import RECIPE_PARSERS, resolve


ROOT = Path(__file__).resolve().parents[2] / "recipes"
RECIPES = sorted(ROOT.rglob("*.yaml"))


def test_there_are_recipes():
    assert RECIPES, "no recipe YAML found under recipes/"


@pytest.mark.parametrize("recipe", RECIPES, ids=lambda p: str(p.relative_to(p.parents[3])))
def test_recipe_parses_with_its_scripts_parser(recipe):
    family, stage = recipe.relative_to(ROOT).parts[0], recipe.parent.name
    keys = [key for key in (f"{family}/{stage}", stage) if key in RECIPE_PARSERS]
    assert keys, f"{recipe}: no parser registered for stage {stage!r} (or {family}/{stage}) in cli.RECIPE_PARSERS"
    parsed = resolve(RECIPE_PARSERS[keys[0]])().parse_args_and_config(["--config", str(recipe)])
    assert parsed, f"{recipe} parsed to nothing"
