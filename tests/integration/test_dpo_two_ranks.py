"""Two ranks (2-process CPU launch): one reference pass shared by both, disjoint shards of one global order."""

import json
from pathlib import Path

from tests.helpers import launch_cpu


SCRIPT = Path(__file__).parent / "scripts" / "dpo_two_ranks.py"


def test_two_ranks_draw_disjoint_shards_of_the_same_global_order(tiny_small_vocab_qwen3_vl_path, tmp_path):
    launch_cpu(SCRIPT, [str(tmp_path), str(tiny_small_vocab_qwen3_vl_path)], num_processes=2, timeout=300)
    ranks = [json.loads((tmp_path / f"rank{k}.json").read_text()) for k in (0, 1)]
    order = ranks[0]["order"]
    assert ranks[1]["order"] == order  # one order, computed identically on every rank
    assert len(order) == ranks[0]["pairs"]
    batch = 2
    for rank, report in enumerate(ranks):
        for k, drawn in enumerate(report["drawn"]):
            start = (2 * k + rank) * batch  # batches are dealt out in turn: 0, 2, 4 ... to rank 0
            if start + batch <= len(order):
                assert drawn == order[start : start + batch], (rank, k)
    positions = [(2 * k + r) for r in (0, 1) for k in range(len(ranks[r]["drawn"]))]
    assert len(positions) == len(set(positions))  # disjoint shards
    assert sorted(positions)[: -(-len(order) // batch)] == list(range(-(-len(order) // batch)))  # covering it
    # Both ranks recorded the same (gathered) deltas for the same pairs: their next epoch's order agrees too.
    assert ranks[0]["seen"] == ranks[1]["seen"] and len(ranks[0]["seen"]) > 0
    assert ranks[0]["seen_delta"] == ranks[1]["seen_delta"]
    assert all(report["reference_rows"] == report["pairs"] and report["ref_model_is_none"] for report in ranks)
    assert len(list((tmp_path / "ref").glob("shard-r00001-*.parquet"))) > 0  # rank 1 computed its share
