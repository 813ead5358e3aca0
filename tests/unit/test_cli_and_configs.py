"""The CLI dispatches and documents every command; the accelerate configs load."""

from pathlib import Path

import pytest
from accelerate.commands.config.config_args import load_config_from_file

from edit_handbook import cli


ROOT = Path(__file__).resolve().parents[2]


def test_top_level_help_lists_every_command(capsys):
    assert cli.main([]) == 0
    out = capsys.readouterr().out
    for command in cli.COMMANDS:
        assert command in out


@pytest.mark.parametrize("command", sorted(cli.COMMANDS))
def test_every_command_has_help(command, capsys):
    with pytest.raises(SystemExit) as exit_info:
        cli.main([command, "--help"])
    assert exit_info.value.code == 0
    assert "usage" in capsys.readouterr().out.lower()


def test_unknown_command_is_rejected(capsys):
    assert cli.main(["paint"]) == 2
    assert "unknown command 'paint'" in capsys.readouterr().err


@pytest.mark.parametrize("name", ["ddp", "zero2", "zero3", "zero3_offload", "fsdp"])
def test_accelerate_configs_load(name):
    config = load_config_from_file(str(ROOT / "accelerate_configs" / f"{name}.yaml"))
    expected = {"ddp": "MULTI_GPU", "fsdp": "FSDP"}.get(name, "DEEPSPEED")
    assert config.distributed_type.value == expected
    if name.startswith("zero"):
        assert config.deepspeed_config["zero_stage"] == int(name[4])
