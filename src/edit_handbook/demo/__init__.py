"""`edit-handbook demo`: the whole pipeline on synthetic pairs with tiny models, on CPU.

The top layer: `stages.STAGES` lists the stages in pipeline order, one module per stage (data, sft, dpo,
synthesis, superedit, evaluation). Stages call the method packages, the entry scripts and `edit_handbook.fixtures`;
nothing below imports this package.
"""
