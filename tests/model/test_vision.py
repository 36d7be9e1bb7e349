"""The vision feature taps against independent computations on the tiny CLIP."""

from __future__ import annotations

import pytest
import torch

from filo.model.clip_backbone import TINY_CLIP_NAME, create_clip
from filo.model.vision import VisionFeatureExtractor

QKV_LAYERS = (1, 2, 3, 4)
VV_LAYERS = (2, 3, 4)
VV_START = 2


@pytest.fixture(scope="module")
def clip():
    return create_clip(TINY_CLIP_NAME, None, 64, seed=3).model


@pytest.fixture(scope="module")
def images():
    return torch.randn(2, 3, 64, 64, generator=torch.Generator().manual_seed(0))


def _extractor(clip, taps):
    return VisionFeatureExtractor(
        clip.visual, qkv_layers=QKV_LAYERS, vv_layers=VV_LAYERS, vv_start=VV_START, taps=taps
    )


def _upstream_block_outputs(clip, images):
    """Block outputs as open_clip itself computes them, one block call at a time."""
    x = clip.visual._embeds(images)
    outputs = []
    for block in clip.visual.transformer.resblocks:
        x = block(x)
        outputs.append(x)
    return outputs


def _independent_vv(block, normed):
    """softmax(v vᵀ · head_dim^-0.5) v per head, through the out projection, written out by hand."""
    width = normed.shape[-1]
    heads = block.attn.num_heads
    head_dim = width // heads
    v = normed @ block.attn.in_proj_weight[2 * width:].T + block.attn.in_proj_bias[2 * width:]
    v = v.reshape(v.shape[0], v.shape[1], heads, head_dim).permute(0, 2, 1, 3)
    weights = torch.softmax(torch.einsum("bhid,bhjd->bhij", v, v) * head_dim**-0.5, dim=-1)
    out = torch.einsum("bhij,bhjd->bhid", weights, v).permute(0, 2, 1, 3).reshape(normed.shape)
    return out @ block.attn.out_proj.weight.T + block.attn.out_proj.bias


def _authors_aliased_taps(clip, images):
    """Re-enacts the authors' forward, in-place updates included, to see what their heads read.

    Mirrors their structure: single-path blocks before VV_START; from VV_START on, the VV
    tensor is updated with `+=` (so every stored VV tap and the tensor stored at block
    VV_START-1 alias the final VV path) and the original path adds its attention in place
    to the previous block's stored output.
    """
    x = clip.visual._embeds(images)
    stored = []
    x_ori = None
    for index, block in enumerate(clip.visual.transformer.resblocks, start=1):
        if index < VV_START:
            x = x + block.attention(block.ln_1(x))
            x = x + block.mlp(block.ln_2(x))
        else:
            source = x if x_ori is None else x_ori
            normed = block.ln_1(source)
            vv_res, ori_res = _independent_vv(block, normed), block.attention(normed)
            if x_ori is None:
                x_ori = x + ori_res
            else:
                x_ori += ori_res
            x_ori = x_ori + block.mlp(block.ln_2(x_ori))
            x += vv_res
        if index in QKV_LAYERS or index in VV_LAYERS:
            stored.append((index, x if index < VV_START else (x, x_ori)))
    qkv, vv = [], []
    for index, tensors in stored:
        if index < VV_START:
            qkv.append(tensors)
        else:
            vv.append(tensors[0])
            qkv.append(tensors[1])
    return [t[:, 1:].clone() for t in qkv], [t[:, 1:].clone() for t in vv]


@torch.no_grad()
def test_shapes(clip, images):
    features = _extractor(clip, "authors")(images)
    assert features.global_feature.shape == (2, 48)
    assert features.grid == (8, 8)
    assert [t.shape for t in features.qkv_tokens] == [(2, 64, 96)] * 4
    assert [t.shape for t in features.vv_tokens] == [(2, 64, 96)] * 3


@torch.no_grad()
def test_paper_qkv_taps_are_upstream_block_outputs(clip, images):
    features = _extractor(clip, "paper")(images)
    upstream = _upstream_block_outputs(clip, images)
    for layer, tokens in zip(QKV_LAYERS, features.qkv_tokens):
        torch.testing.assert_close(tokens, upstream[layer - 1][:, 1:], atol=1e-5, rtol=0)


@torch.no_grad()
def test_global_feature_is_upstream_encode_image(clip, images):
    for taps in ("paper", "authors"):
        features = _extractor(clip, taps)(images)
        torch.testing.assert_close(features.global_feature, clip.encode_image(images), atol=1e-5, rtol=0)


@torch.no_grad()
def test_paper_vv_taps_accumulate_independent_vv_attention(clip, images):
    features = _extractor(clip, "paper")(images)
    x = clip.visual._embeds(images)
    vv_path = None
    expected = {}
    for index, block in enumerate(clip.visual.transformer.resblocks, start=1):
        if index >= VV_START:
            vv_path = (x if vv_path is None else vv_path) + _independent_vv(block, block.ln_1(x))
            expected[index] = vv_path
        x = block(x)
    for layer, tokens in zip(VV_LAYERS, features.vv_tokens):
        torch.testing.assert_close(tokens, expected[layer][:, 1:], atol=1e-5, rtol=0)


@torch.no_grad()
def test_authors_taps_match_reenacted_in_place_forward(clip, images):
    features = _extractor(clip, "authors")(images)
    qkv, vv = _authors_aliased_taps(clip, images)
    for ours, theirs in zip(features.qkv_tokens, qkv, strict=True):
        torch.testing.assert_close(ours, theirs, atol=1e-5, rtol=0)
    for ours, theirs in zip(features.vv_tokens, vv, strict=True):
        torch.testing.assert_close(ours, theirs, atol=1e-5, rtol=0)
    # The aliasing in words: layer VV_START-1 and all VV taps are the final VV path.
    torch.testing.assert_close(features.qkv_tokens[0], features.vv_tokens[-1])


@torch.no_grad()
def test_clip_is_left_untouched(clip, images):
    before_state = {k: v.clone() for k, v in clip.state_dict().items()}
    before = clip.encode_image(images)
    modules_before = [type(m) for m in clip.modules()]
    _extractor(clip, "authors")(images)
    assert [type(m) for m in clip.modules()] == modules_before
    torch.testing.assert_close(clip.encode_image(images), before, atol=0, rtol=0)
    for key, value in clip.state_dict().items():
        assert torch.equal(value, before_state[key]), key


def test_rejects_bad_layers(clip):
    with pytest.raises(ValueError, match="outside"):
        VisionFeatureExtractor(clip.visual, qkv_layers=(5,), vv_layers=(), vv_start=2)
    with pytest.raises(ValueError, match="before the dual path"):
        VisionFeatureExtractor(clip.visual, qkv_layers=(1,), vv_layers=(1,), vv_start=2)
