"""The FiLo model: frozen open_clip + prompt learners + linear/MMCI heads + adapter."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from filo.model.adapter import Adapter
from filo.model.clip_backbone import ClipBundle, create_clip
from filo.model.config import FiLoConfig
from filo.model.heads import LinearHeads, MMCIHeads
from filo.model.maps import (
    combine_layer_maps,
    global_abnormal_value,
    image_score,
    layer_maps,
    stack_text_features,
    suppress_outside_boxes,
)
from filo.model.text import FiLoText
from filo.model.vision import VisionFeatureExtractor


@dataclass
class FiLoOutput:
    """Everything one forward pass produces for a batch of images of one category."""

    global_similarities: torch.Tensor
    """[B, 2] similarity of the global feature to [F_n, F_a] (joint-norm scaled)."""
    layer_maps: list[torch.Tensor] | None
    """Per layer [B, 2, S, S] normal/abnormal probabilities (None when maps were not asked for)."""
    anomaly_map: torch.Tensor | None
    """[B, S, S] smoothed, layer-averaged anomaly map, before box suppression."""
    score: torch.Tensor | None
    """[B] image score: mean of the global abnormal value and the map maximum."""
    image_features: torch.Tensor
    """[B, D] normalized global features the text side was conditioned on."""


@dataclass
class Prediction:
    """What a user gets per image: score, map (boxes applied) and the closest descriptions."""

    score: torch.Tensor
    """[B] image anomaly score."""
    anomaly_map: torch.Tensor
    """[B, S, S] anomaly map after box suppression."""
    top_descriptions: list[list[tuple[str, float]]]
    """Per image, the top-k (description, cosine similarity) pairs, most similar first."""


class FiLo(nn.Module):
    """Zero-shot anomaly detection with fine-grained descriptions and localization.

    The CLIP model is a frozen submodule: it never receives gradients, and
    `trainable_state_dict()` (what checkpoints store) leaves it out.
    """

    def __init__(self, config: FiLoConfig, clip: ClipBundle | None = None) -> None:
        super().__init__()
        self.config = config
        if clip is None:
            clip = create_clip(
                config.clip_name, config.clip_pretrained, config.image_size, seed=config.clip_seed,
                weights_tag=config.clip_weights_tag,
                resize_mode=config.resize_mode,
            )
        if clip.image_size != config.image_size:
            raise ValueError(f"CLIP was built for {clip.image_size}px but the config says {config.image_size}px")
        self.clip = clip.model
        self.clip.requires_grad_(False)
        self.preprocess = clip.preprocess
        visual = clip.model.visual
        width = visual.transformer.width
        embed_dim = visual.output_dim
        self.vision = VisionFeatureExtractor(
            visual,
            qkv_layers=config.qkv_layers,
            vv_layers=config.vv_layers,
            vv_start=config.vv_start,
            taps=config.taps,
        )
        self.text = FiLoText(clip, config.n_ctx)
        self.linear_heads = LinearHeads(width, embed_dim, len(config.qkv_layers))
        self.mmci_heads = MMCIHeads(width, embed_dim, len(config.vv_layers), fold=config.fold_mmci)
        self.adapter = Adapter(embed_dim, residual=config.adapter_residual)

    def train(self, mode: bool = True) -> FiLo:
        """Switch the trainable parts; the frozen CLIP always stays in eval mode."""
        super().train(mode)
        self.clip.eval()
        return self

    def prepare(self, category: str, descriptions: Sequence[str]) -> None:
        """Tokenize a category's prompts once (re-preparing with new descriptions replaces them)."""
        self.text.prepare(category, descriptions)

    def trainable_state_dict(self) -> dict[str, torch.Tensor]:
        """The weights a checkpoint stores: everything except the frozen CLIP."""
        return {k: v for k, v in self.state_dict().items() if not k.startswith("clip.")}

    def forward(
        self,
        images: torch.Tensor,
        category: str,
        *,
        positions: Sequence[str | None] | None = None,
        use_adapter: bool = True,
        compute_maps: bool = True,
        text_grad: bool = True,
    ) -> FiLoOutput:
        """Run FiLo on preprocessed images [B, 3, S, S] that all show `category`.

        `positions[i]` restricts image i's abnormal prompts to one of the 9 positions
        (None, or positions=None: average over all positions, as in training).
        `use_adapter=False` is phase 1 (raw normalized CLS feature for the text side).
        `text_grad=False` computes the text features without gradients: phase 2 trains the
        adapter through the image side only, as the authors do.
        """
        with torch.no_grad():
            features = self.vision(images)
        global_feature = self.adapter(features.global_feature) if use_adapter else features.global_feature
        image_features = F.normalize(global_feature, dim=-1)
        with torch.set_grad_enabled(text_grad and torch.is_grad_enabled()):
            normal, abnormal = self.text(
                image_features, category, positions, optimized=self.config.optimized_text,
                conditioning=self.config.conditioning,
            )
        text_features = stack_text_features(normal, abnormal)
        similarities = (image_features[:, None, :] * text_features).sum(-1)
        if not compute_maps:
            return FiLoOutput(similarities, None, None, None, image_features)
        head_tokens = self.linear_heads(features.qkv_tokens) + self.mmci_heads(features.vv_tokens, features.grid)
        maps = [layer_maps(t, text_features, features.grid, self.config.image_size) for t in head_tokens]
        anomaly_map = combine_layer_maps(
            maps, kernel_size=self.config.smoothing_kernel, sigma=self.config.smoothing_sigma
        )
        score = image_score(global_abnormal_value(image_features, text_features), anomaly_map)
        return FiLoOutput(similarities, maps, anomaly_map, score, image_features)

    @torch.no_grad()
    def predict(
        self,
        images: torch.Tensor,
        category: str,
        *,
        positions: Sequence[str | None] | None = None,
        keep_masks: torch.Tensor | None = None,
    ) -> Prediction:
        """Inference for one category: score, box-suppressed map and top-k descriptions.

        `keep_masks` [B, S, S] (bool) marks pixels inside kept Grounding DINO boxes; None
        means no box information (the map is left as is).
        """
        output = self(images, category, positions=positions)
        anomaly_map = output.anomaly_map
        if keep_masks is not None:
            anomaly_map = suppress_outside_boxes(anomaly_map, keep_masks.to(anomaly_map.device),
                                                 self.config.box_lambda)
        return Prediction(
            score=output.score,
            anomaly_map=anomaly_map,
            top_descriptions=self.top_descriptions(output.image_features, category, positions),
        )

    def top_descriptions(
        self,
        image_features: torch.Tensor,
        category: str,
        positions: Sequence[str | None] | None = None,
    ) -> list[list[tuple[str, float]]]:
        """Per image, the `top_k_descriptions` fine-grained descriptions closest to its global feature."""
        descriptions = self.text.prompts(category).descriptions
        if not descriptions:
            return [[] for _ in range(image_features.shape[0])]
        features = self.text.description_features(
            image_features, category, positions, optimized=self.config.optimized_text,
            conditioning=self.config.conditioning,
        )
        similarities = (image_features[:, None, :] * features).sum(-1)
        k = min(self.config.top_k_descriptions, len(descriptions))
        values, indices = similarities.topk(k, dim=1)
        return [
            [(descriptions[i], float(v)) for v, i in zip(row_values.tolist(), row_indices.tolist())]
            for row_values, row_indices in zip(values, indices)
        ]
