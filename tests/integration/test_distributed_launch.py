"""Two CPU processes under `accelerate launch` really form a gloo group (the setup distributed tests reuse)."""

import json
from pathlib import Path

import pytest
from tests.helpers import launch_cpu


SCRIPT = Path(__file__).parent / "scripts" / "allreduce_check.py"


def test_two_process_gloo_all_reduce_and_split(tmp_path):
    launch_cpu(SCRIPT, [str(tmp_path), "5"], num_processes=2, timeout=120)
    reports = [json.loads(path.read_text()) for path in sorted(tmp_path.glob("rank*.json"))]
    by_rank = {report["rank"]: report for report in reports}
    assert sorted(by_rank) == [0, 1]
    for report in reports:
        assert report["world_size"] == 2
        assert report["distributed_type"] == "DistributedType.MULTI_CPU"
        assert report["backend"] == "gloo"
        assert report["device"].startswith("cpu")
        assert report["all_reduce_sum"] == 3.0  # ranks contribute 1 and 2
    assert by_rank[0]["shard"] == [0, 1, 2]
    assert by_rank[1]["shard"] == [3, 4]


def test_failed_launch_reports_the_script_output(tmp_path):
    script = tmp_path / "fails.py"
    script.write_text("import sys\nprint('reached the script')\nsys.exit('the script failed on purpose')\n")
    with pytest.raises(AssertionError, match="(?s)reached the script.*failed on purpose"):
        launch_cpu(script, [], num_processes=1, timeout=120)
