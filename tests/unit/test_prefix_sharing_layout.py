"""Prefix-sharing layout: packed rows, block mask, rope positions, labels and unpacking against hand-made cases."""

from __future__ import annotations

import pytest
import torch
from transformers import Qwen3VLConfig, Qwen3VLMoeConfig
from trl import DPOConfig

from edit_handbook.editcaption.prefix_sharing import (
    CHOSEN,
    PAD,
    PREFIX,
    REJECTED,
    block_attention_mask,
    pack_labels,
    pack_pairs,
    resolve_prefix_sharing,
    shared_position_ids,
    unpack_shifted,
    unpack_tokens,
)


P, C, R = PREFIX, CHOSEN, REJECTED


def _two_pairs():
    # pair 0: prompt 10 11 12, chosen 20 21, rejected 30; pair 1: prompt 13 14, chosen 22, rejected 31 32
    return pack_pairs(
        [[10, 11, 12], [13, 14]],
        [[20, 21], [22]],
        [[30], [31, 32]],
        pad_token_id=0,
        prompt_mm_types=[[0, 1, 0], [1, 0]],
    )


def test_pack_pairs_hand_case():
    packed = _two_pairs()
    assert packed.input_ids.tolist() == [[10, 11, 12, 20, 21, 12, 30], [13, 14, 22, 14, 31, 32, 0]]
    assert packed.blocks.tolist() == [[P, P, C, C, C, R, R], [P, C, C, R, R, R, PAD]]
    assert packed.mm_token_type_ids.tolist() == [[0, 1, 0, 0, 0, 0, 0], [1, 0, 0, 0, 0, 0, 0]]
    # view rows: chosen of pair 0, chosen of pair 1, rejected of pair 0, rejected of pair 1
    assert packed.view_ids.tolist() == [[12, 20, 21], [14, 22, 0], [12, 30, 0], [14, 31, 32]]
    assert packed.view_mask.tolist() == [[1, 1, 1], [1, 1, 0], [1, 1, 0], [1, 1, 1]]
    assert packed.view_completion_mask.tolist() == [[0, 1, 1], [0, 1, 0], [0, 1, 0], [0, 1, 1]]
    assert packed.view_index.tolist() == [[2, 3, 4], [1, 2, 0], [5, 6, 0], [3, 4, 5]]
    for view in range(4):  # each view token is the packed token its index names
        valid = packed.view_mask[view].bool()
        packed_row = packed.input_ids[view % 2]
        assert packed_row[packed.view_index[view][valid]].tolist() == packed.view_ids[view][valid].tolist()


def test_pack_pairs_refuses_bad_input():
    with pytest.raises(ValueError, match="pair 0 has an empty prompt"):
        pack_pairs([[]], [[1]], [[2]], pad_token_id=0)
    with pytest.raises(ValueError, match="one chosen and one rejected answer per prompt"):
        pack_pairs([[1]], [[1], [2]], [[2]], pad_token_id=0)


def test_block_attention_mask_hand_case():
    blocks = torch.tensor([[P, P, C, C, C, R, R, PAD]])
    expected = torch.tensor(
        [  # keys:  P  P  C  C  C  R  R  pad
            [1, 0, 0, 0, 0, 0, 0, 0],
            [1, 1, 0, 0, 0, 0, 0, 0],
            [1, 1, 1, 0, 0, 0, 0, 0],  # last prompt token: the prefix and itself
            [1, 1, 1, 1, 0, 0, 0, 0],
            [1, 1, 1, 1, 1, 0, 0, 0],
            [1, 1, 0, 0, 0, 1, 0, 0],  # its copy: the prefix and itself, not the chosen answer
            [1, 1, 0, 0, 0, 1, 1, 0],
            [0, 0, 0, 0, 0, 0, 0, 1],  # padding sees only itself (no empty row)
        ],
        dtype=torch.bool,
    )
    mask = block_attention_mask(blocks)
    assert mask.shape == (1, 1, 8, 8)
    assert torch.equal(mask[0, 0], expected)


def test_shared_position_ids_reuse_the_chosen_block_positions():
    blocks = torch.tensor([[P, P, C, C, C, R, R, PAD]])
    # M-RoPE of [prefix, chosen block] (the rejected block and padding are masked out, so 0): the prefix holds an
    # image token whose three components differ; text after it continues at the same value in all three
    chosen_view = torch.tensor([[[0, 1, 3, 4, 5, 0, 0, 0]], [[0, 2, 3, 4, 5, 0, 0, 0]], [[0, 1, 3, 4, 5, 0, 0, 0]]])
    expected = torch.tensor([[[0, 1, 3, 4, 5, 3, 4, 0]], [[0, 2, 3, 4, 5, 3, 4, 0]], [[0, 1, 3, 4, 5, 3, 4, 0]]])
    assert torch.equal(shared_position_ids(chosen_view, blocks), expected)
    # a rejected answer longer than the chosen one keeps counting
    blocks = torch.tensor([[P, C, C, R, R, R]])
    assert shared_position_ids(torch.tensor([[0, 7, 8, 0, 0, 0]]), blocks).tolist() == [[0, 7, 8, 7, 8, 9]]


def test_labels_and_unpacking_round_trip():
    packed = _two_pairs()
    view_labels = packed.view_ids.masked_fill(packed.view_completion_mask == 0, -100)
    labels = pack_labels(view_labels, packed.view_index, packed.input_ids.size(1))
    assert labels.tolist() == [[-100, -100, -100, 20, 21, -100, 30], [-100, -100, 22, -100, 31, 32, -100]]

    # per-token values of the packed rows, entry i for token i + 1 (as a fused LM head returns them)
    values = torch.arange(1.0, 15.0).view(2, 7)
    scored = view_labels[:, 1:] != -100
    unpacked = unpack_shifted(values, packed.view_index, scored)
    # pair 0 chosen tokens 20, 21 are packed tokens 3, 4 -> entries 2, 3; rejected 30 is token 6 -> entry 5
    assert unpacked.tolist() == [[3.0, 4.0], [9.0, 0.0], [6.0, 0.0], [11.0, 12.0]]
    assert unpack_shifted(values[..., None].expand(2, 7, 2), packed.view_index, scored).shape == (4, 2, 2)
    tokens = unpack_tokens(packed.input_ids, packed.view_index)
    assert torch.equal(tokens * packed.view_mask, packed.view_ids)


class _Model:
    def __init__(self, config):
        self.config = config


def _qwen3_vl(attention="sdpa"):
    config = Qwen3VLConfig()
    config._attn_implementation = attention
    return _Model(config)


def test_resolve_turns_sharing_on_where_supported_and_refuses_conflicts():
    args = DPOConfig(output_dir="unused", use_cpu=True, bf16=False)
    assert resolve_prefix_sharing(None, _qwen3_vl(), args) is True
    assert resolve_prefix_sharing(False, _qwen3_vl(), args) is False
    assert resolve_prefix_sharing(None, _qwen3_vl("flash_attention_2"), args) is False  # auto: off, not an error
    with pytest.raises(ValueError, match="attn_implementation 'flash_attention_2'.*prefix_sharing: false"):
        resolve_prefix_sharing(True, _qwen3_vl("flash_attention_2"), args)
    moe = Qwen3VLMoeConfig()
    moe._attn_implementation = "sdpa"
    with pytest.raises(ValueError, match="mixture-of-experts"):
        resolve_prefix_sharing(True, _Model(moe), args)
    for field, value, message in (("padding_free", True, "padding_free"), ("torch_compile", True, "torch_compile")):
        conflicting = DPOConfig(output_dir="unused", use_cpu=True, bf16=False, **{field: value})
        with pytest.raises(ValueError, match=message):
            resolve_prefix_sharing(True, _qwen3_vl(), conflicting)
