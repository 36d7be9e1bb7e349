"""Image features for FiLo, read from an upstream open_clip VisionTransformer without changing it.

From block `vv_start` on, every block runs two paths that share `ln_1(x_original)`:
the original path (the block as open_clip runs it) and the V-V path (CLIP Surgery),
which only accumulates softmax(v·vᵀ·scale)·v through the block's out projection.

Two ways to choose which token tensors the heads read ("taps"):

- ``paper``: true block outputs. QKV tap at layer l = original path after block l;
  VV tap at layer l = VV path after block l.
- ``authors`` (default): what the authors' code actually hands its heads, because
  later blocks update their stored tensors in place. A QKV tap at the block just
  before the dual path starts, and every VV tap, is the VV path after the last
  block; a QKV tap at a dual block l other than the last is block l's output plus
  block l+1's attention (before block l+1's MLP); other QKV taps are true outputs.
  Their released checkpoints and published numbers come from these taps.

Both are computed directly from the intermediate states, no aliasing tricks.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

import torch
import torch.nn.functional as F
from open_clip.transformer import ResidualAttentionBlock, VisionTransformer
from torch import nn

TapMode = Literal["authors", "paper"]


@dataclass
class VisionFeatures:
    """What FiLo reads from the vision tower for a batch of images."""

    global_feature: torch.Tensor
    """[B, embed_dim] projected CLS embedding of the original path (not normalized)."""
    qkv_tokens: list[torch.Tensor]
    """Per QKV tap: [B, N, width] patch tokens (CLS dropped), before ln_post/proj."""
    vv_tokens: list[torch.Tensor]
    """Per VV tap: [B, N, width] patch tokens (CLS dropped); taps of the same state are the same object."""
    grid: tuple[int, int]
    """Patch grid (rows, cols); N = rows * cols."""


@dataclass
class _BlockStates:
    """Token states [B, 1+N, width] recorded while running the blocks (1-based block index)."""

    outputs: dict[int, torch.Tensor]
    """Original-path output of every block."""
    after_attention: dict[int, torch.Tensor]
    """Original path of a dual block after its attention residual, before its MLP."""
    vv: dict[int, torch.Tensor]
    """VV path after every dual block."""


def _packed_qkv(attn: nn.MultiheadAttention, normed: torch.Tensor) -> tuple[torch.Tensor, ...]:
    """q, k, v [B, heads, L, head_dim] of normalized tokens [B, L, width], from one packed projection."""
    if not attn._qkv_same_embed_dim or not attn.batch_first:
        raise ValueError("FiLo needs open_clip blocks with a packed, batch-first QKV projection")
    batch, length, width = normed.shape
    heads = attn.num_heads
    qkv = F.linear(normed, attn.in_proj_weight, attn.in_proj_bias)
    return qkv.view(batch, length, 3, heads, width // heads).permute(2, 0, 3, 1, 4).unbind(0)


def _merge_heads(attn: nn.MultiheadAttention, out: torch.Tensor) -> torch.Tensor:
    """Attention output [B, heads, L, head_dim] through the out projection: [B, L, width]."""
    batch, heads, length, head_dim = out.shape
    return attn.out_proj(out.transpose(1, 2).reshape(batch, length, heads * head_dim))


def block_forward(block: ResidualAttentionBlock, x: torch.Tensor) -> torch.Tensor:
    """`block(x)` for tokens [B, L, width], with its attention as one fused scaled-dot-product call.

    Equal to the upstream block up to float rounding; in inference, torch's
    `nn.MultiheadAttention` fast path materializes the L×L attention weights instead.
    """
    q, k, v = _packed_qkv(block.attn, block.ln_1(x))
    x = x + block.ls_1(_merge_heads(block.attn, F.scaled_dot_product_attention(q, k, v)))
    return x + block.ls_2(block.mlp(block.ln_2(x)))


def dual_attention(block: ResidualAttentionBlock, normed: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """The block's own attention and its V-V attention (q = k = v) on the same normalized tokens [B, L, width].

    Equal to `block.attention(normed)` and the V-V path computed on its own, up to float
    rounding, but the QKV projection is computed once (the V-V path reuses its V) and both
    attentions and out projections run as one batch of 2B.
    """
    q, k, v = _packed_qkv(block.attn, normed)
    out = _merge_heads(block.attn, F.scaled_dot_product_attention(torch.cat([q, v]), torch.cat([k, v]),
                                                                  torch.cat([v, v])))
    batch = normed.shape[0]
    return out[:batch], out[batch:]


def _check_layers(qkv_layers: Sequence[int], vv_layers: Sequence[int], vv_start: int, depth: int) -> None:
    for layer in (*qkv_layers, *vv_layers):
        if not 1 <= layer <= depth:
            raise ValueError(f"tap layer {layer} is outside the vision tower's blocks 1..{depth}")
    if not 1 <= vv_start <= depth:
        raise ValueError(f"vv_start {vv_start} is outside the vision tower's blocks 1..{depth}")
    early_vv = [layer for layer in vv_layers if layer < vv_start]
    if early_vv:
        raise ValueError(f"VV taps {early_vv} come before the dual path starts at block {vv_start}")


class VisionFeatureExtractor(nn.Module):
    """Runs an open_clip VisionTransformer's blocks with the dual QKV/VV path and returns the taps.

    The wrapped tower is used read-only: its modules are called, never replaced or patched,
    so `clip.encode_image` elsewhere keeps returning upstream results. The tower is not
    registered as a submodule (it belongs to the CLIP model, which the caller owns).
    """

    def __init__(
        self,
        visual: VisionTransformer,
        *,
        qkv_layers: Sequence[int],
        vv_layers: Sequence[int],
        vv_start: int,
        taps: TapMode = "authors",
    ) -> None:
        super().__init__()
        if not isinstance(visual, VisionTransformer):
            raise TypeError(f"FiLo needs an open_clip VisionTransformer, got {type(visual).__name__}")
        if visual.attn_pool is not None or visual.pool_type != "tok":
            raise ValueError("FiLo needs a CLS-token ViT (pool_type 'tok', no attentional pooling)")
        if taps not in ("authors", "paper"):
            raise ValueError(f"taps must be 'authors' or 'paper', got {taps!r}")
        self._visual = (visual,)
        self.depth = len(visual.transformer.resblocks)
        _check_layers(qkv_layers, vv_layers, vv_start, self.depth)
        self.qkv_layers = tuple(qkv_layers)
        self.vv_layers = tuple(vv_layers)
        self.vv_start = vv_start
        self.taps = taps

    @property
    def visual(self) -> VisionTransformer:
        return self._visual[0]

    def forward(self, images: torch.Tensor) -> VisionFeatures:
        """Features of a batch of preprocessed images [B, 3, H, W]."""
        visual = self.visual
        if not visual.transformer.batch_first:
            raise ValueError("expected an open_clip VisionTransformer with batch_first blocks")
        states = self._run_blocks(visual._embeds(images))
        pooled, _ = visual._pool(states.outputs[self.depth])
        global_feature = pooled @ visual.proj if visual.proj is not None else pooled
        qkv = [self._qkv_tap(layer, states)[:, 1:] for layer in self.qkv_layers]
        patch_tokens: dict[int, torch.Tensor] = {}  # one view per state: shared taps stay one object
        vv = [patch_tokens.setdefault(id(state), state[:, 1:])
              for state in (self._vv_tap(layer, states) for layer in self.vv_layers)]
        return VisionFeatures(global_feature, qkv, vv, tuple(visual.grid_size))

    def _run_blocks(self, x: torch.Tensor) -> _BlockStates:
        states = _BlockStates(outputs={}, after_attention={}, vv={})
        x_vv = None
        for index, block in enumerate(self.visual.transformer.resblocks, start=1):
            if index < self.vv_start:
                x = block_forward(block, x)
            else:
                if x_vv is None:
                    x_vv = x
                attention, vv = dual_attention(block, block.ln_1(x))
                x_vv = x_vv + block.ls_1(vv)
                x = x + block.ls_1(attention)
                states.after_attention[index] = x
                x = x + block.ls_2(block.mlp(block.ln_2(x)))
                states.vv[index] = x_vv
            states.outputs[index] = x
        return states

    def _qkv_tap(self, layer: int, states: _BlockStates) -> torch.Tensor:
        if self.taps == "paper":
            return states.outputs[layer]
        if layer == self.vv_start - 1:
            return states.vv[self.depth]
        if self.vv_start <= layer < self.depth:
            return states.after_attention[layer + 1]
        return states.outputs[layer]

    def _vv_tap(self, layer: int, states: _BlockStates) -> torch.Tensor:
        return states.vv[self.depth] if self.taps == "authors" else states.vv[layer]
