"""The demo's DPO stage after the shipped captioner changed (a pull): it recomputes the reference it stored for the
previous captioner instead of refusing the folder, and still prints its before/after figures."""

import json

from edit_handbook.data.writer import METADATA_FILE, ShardedWriter
from edit_handbook.demo.context import DemoContext
from edit_handbook.demo.stages import run_demo
from edit_handbook.editcaption.reference_pass import ROW_FEATURES


def test_demo_dpo_stage_recomputes_a_reference_stored_for_another_captioner(tmp_path, capsys):
    stale = tmp_path / "dpo" / "reference" / "train"
    with ShardedWriter(stale, ROW_FEATURES, fingerprint="the previous captioner", rank=0, world_size=1):
        pass
    context = DemoContext(output_dir=tmp_path, num_pairs=16, image_size=128, seed=0)
    run_demo(context, only=["dpo"])
    assert json.loads((stale / METADATA_FILE).read_text())["fingerprint"] != "the previous captioner"
    out = capsys.readouterr().out
    assert "after HAE-DPO, 64 held-out pairs: checker accepts" in out
    assert context.artifacts["dpo_captioner"] == tmp_path / "dpo"
