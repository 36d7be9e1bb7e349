"""The traceable forward of one category: what an exported model computes, as one `nn.Module`.

What can be baked and what must stay in the graph follows from the method (DESIGN.md §1):
the text features F_n and F_a are **not** constants. Each prompt learner adds
``meta_net(global image feature)`` to its context vectors before the frozen, non-linear
CLIP text transformer runs, so the text features depend on the image (CoCoOp), and F_a
also on the detected position. Precomputing them would change every output. So:

* baked (constants of the graph): the category's prompts, tokenized and embedded once, as
  the frozen token embeddings around the context slots (SOS ``prefix``, ``suffix``), cut
  after the longest EOT token of each prompt set (exact: the text transformer is causal),
  with each prompt's EOT index; the trained weights; MMCI's six convolutions folded into one
  7x7 kernel per tap (exact up to float rounding, as `MMCIHeads(fold=True)` runs them in
  eager inference); the Gaussian smoothing kernel; λ of box suppression.
* in the graph: the vision tower with the dual QKV/VV path, the adapter, both meta-nets, the
  text transformer over only the prompts that are averaged (the normal prompts and the
  abnormal prompts of each image's positions), the linear/MMCI heads, the per-layer maps,
  their combination and smoothing, the image score and box suppression.

Fine-grained descriptions come for free: their abnormal prompts are rows of the encoded
abnormal set (states first, then the generic ones), so each state's feature is the
renormalized mean of its rows and the graph returns every state's similarity to the image
feature. Eager filo encodes those prompts a second time for `top_descriptions`; the values
agree up to float rounding.

Inputs: ``images`` [B, 3, S, S] (preprocessed), ``positions`` [B, P] int64 (the indices in
:data:`filo.vocabulary.POSITIONS` whose abnormal prompts each image averages: P = 1 for a
detected position, all nine when none is known), ``keep`` [B, S, S] bool (pixels inside kept
Grounding DINO boxes; all True for no box information). Outputs: ``score`` [B],
``anomaly_map`` [B, S, S] (box-suppressed; the score takes the map maximum before
suppression, as eager filo does) and ``state_similarities`` [B, n_states].

Every image is conditioned on its own feature and position: eager filo's ``per_image``
conditioning, which equals ``authors`` conditioning at batch size 1 (their batch size).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from filo.model.filo import FiLo
from filo.model.heads import MMCIHeads, folded_forward
from filo.model.maps import (
    combine_layer_maps,
    global_abnormal_value,
    image_score,
    layer_maps,
    stack_text_features,
    suppress_outside_boxes,
)
from filo.model.text import PromptLearner, TokenizedPrompts, encode_token_embeddings
from filo.vocabulary import POSITIONS

INPUT_NAMES = ("images", "positions", "keep")
OUTPUT_NAMES = ("score", "anomaly_map", "state_similarities")


class _PromptConstants(nn.Module):
    """One prompt set's frozen embeddings around the context slots, cut after its longest EOT."""

    def __init__(self, prompts: TokenizedPrompts, n_ctx: int) -> None:
        super().__init__()
        length = int(prompts.eot_index.max()) + 1
        self.register_buffer("prefix", prompts.prefix.detach().clone())
        self.register_buffer("suffix", prompts.suffix[:, : length - 1 - n_ctx].detach().clone())
        self.register_buffer("eot_index", prompts.eot_index.detach().clone())


class _FoldedMMCI(nn.Module):
    """MMCI with each tap's six convolutions folded once into a 7x7 kernel held as buffers.

    Buffers, so the exported graph holds the folded kernels as constants (neither the six
    original kernels nor the folding itself end up in it).
    """

    def __init__(self, heads: MMCIHeads) -> None:
        super().__init__()
        self.count = heads.count
        every_tap = tuple(range(heads.count))  # the stack eager inference caches under the authors' taps
        weights, biases = heads.folded_kernel(every_tap)
        for index, weight, bias in zip(every_tap, weights.chunk(heads.count), biases.chunk(heads.count)):
            self.register_buffer(f"weight{index}", weight.detach().clone())
            self.register_buffer(f"bias{index}", bias.detach().clone())

    def kernel(self, indices: tuple[int, ...]) -> tuple[torch.Tensor, torch.Tensor]:
        """The folded (weight, bias) of taps `indices`, stacked on output channels."""
        return (torch.cat([getattr(self, f"weight{index}") for index in indices]),
                torch.cat([getattr(self, f"bias{index}") for index in indices]))

    def forward(self, tokens: list[torch.Tensor], grid: tuple[int, int]) -> list[torch.Tensor]:
        if len(tokens) != self.count:
            raise ValueError(f"expected {self.count} token tensors, got {len(tokens)}")
        return folded_forward(tokens, grid, self.kernel)


class CategoryGraph(nn.Module):
    """FiLo's inference for one prepared category, with every category-specific constant baked in.

    Built from an eval-mode `FiLo` on which `prepare(category, descriptions)` was called;
    shares its weights (nothing is copied until export).
    """

    def __init__(self, model: FiLo, category: str) -> None:
        super().__init__()
        prompts = model.text.prompts(category)
        self.config = model.config
        self.n_states = len(prompts.abnormal) // len(POSITIONS)
        self.n_descriptions = len(prompts.descriptions)
        self._clip = (model.clip,)  # not a submodule: the text tower is called, its unused parts stay out
        self.vision = model.vision
        self.adapter = model.adapter
        self.linear_heads = model.linear_heads
        self.mmci_heads = _FoldedMMCI(model.mmci_heads)
        self.normal_learner: PromptLearner = model.text.normal_prompt_learner
        self.abnormal_learner: PromptLearner = model.text.abnormal_prompt_learner
        self.normal = _PromptConstants(prompts.normal, model.text.n_ctx)
        self.abnormal = _PromptConstants(prompts.abnormal, model.text.n_ctx)

    def forward(self, images: torch.Tensor, positions: torch.Tensor,
                keep: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """(score [B], box-suppressed anomaly map [B, S, S], per-state similarities [B, n_states])."""
        features = self.vision(images)
        image_features = F.normalize(self.adapter(features.global_feature), dim=-1)
        normal = self._encode(self.normal, self.normal_learner(image_features),
                              torch.arange(self.normal.prefix.shape[0]).expand(images.shape[0], -1))
        states = torch.arange(self.n_states, device=positions.device)[None, :, None]
        rows = (states * len(POSITIONS) + positions[:, None, :]).flatten(1)  # state-major, as CategoryPrompts
        abnormal = self._encode(self.abnormal, self.abnormal_learner(image_features), rows)
        f_n = F.normalize(normal.mean(dim=1), dim=-1)
        f_a = F.normalize(abnormal.mean(dim=1), dim=-1)
        per_state = F.normalize(abnormal.unflatten(1, (self.n_states, -1)).mean(dim=2), dim=-1)
        state_similarities = (image_features[:, None, :] * per_state).sum(-1)

        text_features = stack_text_features(f_n, f_a)
        head_tokens = self.linear_heads(features.qkv_tokens) + self.mmci_heads(features.vv_tokens, features.grid)
        size = self.config.image_size
        maps = [layer_maps(t, text_features, features.grid, size) for t in head_tokens]
        anomaly_map = combine_layer_maps(maps, kernel_size=self.config.smoothing_kernel,
                                         sigma=self.config.smoothing_sigma)
        score = image_score(global_abnormal_value(image_features, text_features), anomaly_map)
        suppressed = suppress_outside_boxes(anomaly_map, keep, self.config.box_lambda)
        return score, suppressed, state_similarities

    def _encode(self, constants: _PromptConstants, context: torch.Tensor, rows: torch.Tensor) -> torch.Tensor:
        """Normalized features [B, R, D] of prompt `rows` [B, R], each image with its own context [B, n_ctx, W]."""
        batch, count = rows.shape
        flat = rows.flatten()
        image_context = context[:, None].expand(-1, count, -1, -1).flatten(0, 1)
        embeddings = torch.cat([constants.prefix[flat], image_context.to(constants.prefix.dtype),
                                constants.suffix[flat]], dim=1)
        encoded = encode_token_embeddings(self._clip[0], embeddings, constants.eot_index[flat])
        return F.normalize(encoded, dim=-1).unflatten(0, (batch, count))
