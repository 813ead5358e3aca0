"""Run under `accelerate launch` (2 CPU processes): reference pass, the sampler's shards, two HAE-DPO steps.

Writes rank<k>.json with the batches of pair indices this rank drew, the global order, the sampler's observed
deltas after training and the number of reference rows.
"""

import json
import sys
from pathlib import Path

import numpy as np
import torch
from trl import DPOConfig

from edit_handbook.data.synthetic import generate_dataset, preference_pairs
from edit_handbook.distributed import leave_process_group
from edit_handbook.editcaption.hae_trainer import HAEDPOTrainer
from edit_handbook.editcaption.preference_data import to_preference_examples
from edit_handbook.editcaption.reference_pass import attach_reference, run_reference_pass
from edit_handbook.editcaption.sampler import HardExampleSampler
from edit_handbook.models import load_vlm


out, model_path = Path(sys.argv[1]), sys.argv[2]
args = DPOConfig(
    output_dir=str(out / "run"),
    per_device_train_batch_size=2,
    max_steps=2,
    seed=5,
    use_cpu=True,
    bf16=False,
    gradient_checkpointing=False,
    max_length=None,
    report_to=[],
    disable_tqdm=True,
    save_strategy="no",
    logging_steps=1,
)
model, processor = load_vlm(model_path, dtype=torch.float32, min_pixels=1024, max_pixels=4096)
examples = to_preference_examples(
    preference_pairs(generate_dataset(4, image_size=64, edit_types=["move", "recolour"]))
)
rows = run_reference_pass(model, processor, examples, out / "ref", fingerprint="two-ranks", batch_size=4)
trainer = HAEDPOTrainer(model, args, attach_reference(examples, rows), processor)
drawn = [batch["hae_index"].tolist() for batch in trainer.get_train_dataloader()]
order = HardExampleSampler(trainer.pair_scores, seed=args.seed).global_order(0).tolist()
trainer.train()
seen = trainer.pair_scores.seen_delta
report = {
    "rank": trainer.accelerator.process_index,
    "drawn": drawn,
    "order": order,
    "seen": np.flatnonzero(~np.isnan(seen)).tolist(),
    "seen_delta": np.nan_to_num(seen, nan=-1e9).tolist(),
    "reference_rows": len(rows),
    "pairs": len(examples),
    "ref_model_is_none": trainer.ref_model is None,
}
(out / f"rank{report['rank']}.json").write_text(json.dumps(report))
leave_process_group()
