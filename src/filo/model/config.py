"""The one object that fully describes a FiLo model: enough to rebuild it from a checkpoint."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any, Literal

from filo.errors import FiloError

PRESETS = ("paper", "tiny")
"""Named configurations: "paper" (ViT-L-14-336 / openai at 518) and "tiny" (demo and tests)."""


@dataclass(frozen=True)
class FiLoConfig:
    """Architecture and inference settings of a FiLo model.

    Defaults are the paper profile as the authors' code runs it. Every deviation from
    their behaviour is a named option whose default is the faithful one.
    """

    clip_name: str = "ViT-L-14-336"
    """open_clip model name."""
    clip_pretrained: str | None = "openai"
    """open_clip pretrained tag, a local checkpoint path, or None for seeded random weights."""
    clip_weights_tag: str | None = None
    """Required when `clip_pretrained` is a local file: the open_clip tag whose weights it holds
    (e.g. "openai", which sets QuickGELU and OpenAI's preprocessing exactly as the tag does), or
    "custom" for weights of your own. Unused otherwise."""
    clip_seed: int = 0
    """Seed of the random CLIP weights when `clip_pretrained` is None."""
    image_size: int = 518
    """Input size; positional embeddings are resized to it when the checkpoint differs."""
    resize_mode: Literal["squash", "shortest"] = "squash"
    """How images (and masks) reach image_size: "squash" resizes to a square as the authors'
    open_clip fork does; "shortest" is upstream open_clip's shorter-side resize + centre crop,
    which drops the borders of non-square images (VisA)."""
    qkv_layers: tuple[int, ...] = (6, 12, 18, 24)
    """1-based blocks whose QKV-path tokens feed the linear heads."""
    vv_layers: tuple[int, ...] = (12, 18, 24)
    """1-based blocks whose VV-path tokens feed MMCI."""
    vv_start: int = 7
    """First block that runs the dual QKV/VV path."""
    taps: Literal["authors", "paper"] = "authors"
    """Which tensors the heads read: the authors' aliased taps, or the true layers (see vision.py)."""
    n_ctx: int = 12
    """Learnable context vectors per prompt learner."""
    adapter_residual: bool = True
    """Residual adapter (authors' code) or plain bottleneck (paper Table 14)."""
    smoothing_kernel: int = 3
    """Gaussian smoothing kernel size of each layer map (authors' code: 3; 0 disables)."""
    smoothing_sigma: float = 4.0
    """Gaussian smoothing σ."""
    box_lambda: float = 0.7
    """Factor applied to map pixels outside every kept Grounding DINO box."""
    top_k_descriptions: int = 3
    """How many fine-grained descriptions a prediction reports."""
    fold_mmci: bool = True
    """Run MMCI's six convolutions as one folded 7x7 convolution at inference (exact up to rounding)."""
    optimized_text: bool = True
    """Encode only averaged prompts, truncated at the longest EOT (exact up to rounding)."""
    extra: dict[str, Any] = field(default_factory=dict)
    """Free-form notes carried with the checkpoint (e.g. training provenance); not used by the model."""

    def __post_init__(self) -> None:
        if self.taps not in ("authors", "paper"):
            raise FiloError(f"taps must be 'authors' or 'paper', got {self.taps!r}")
        if self.resize_mode not in ("squash", "shortest"):
            raise FiloError(f"resize_mode must be 'squash' or 'shortest', got {self.resize_mode!r}")
        if self.image_size <= 0 or self.n_ctx <= 0:
            raise FiloError(f"image_size and n_ctx must be positive, got {self.image_size}, {self.n_ctx}")
        if not 0.0 <= self.box_lambda <= 1.0:
            raise FiloError(f"box_lambda must be in [0, 1], got {self.box_lambda}")
        if self.smoothing_kernel and self.smoothing_kernel % 2 == 0:
            raise FiloError(f"smoothing_kernel must be odd (or 0 to disable), got {self.smoothing_kernel}")
        object.__setattr__(self, "qkv_layers", tuple(self.qkv_layers))
        object.__setattr__(self, "vv_layers", tuple(self.vv_layers))

    @classmethod
    def tiny(cls, **overrides: Any) -> FiLoConfig:
        """The demo/test configuration: the tiny CLIP registered by filo, random seeded weights."""
        values: dict[str, Any] = {
            "clip_name": "filo-tiny",
            "clip_pretrained": None,
            "image_size": 64,
            "qkv_layers": (1, 2, 3, 4),
            "vv_layers": (2, 3, 4),
            "vv_start": 2,
        }
        values.update(overrides)
        return cls(**values)

    def to_dict(self) -> dict[str, Any]:
        """Plain-JSON form, for checkpoints and MLflow params."""
        values = dataclasses.asdict(self)
        values["qkv_layers"] = list(self.qkv_layers)
        values["vv_layers"] = list(self.vv_layers)
        return values

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> FiLoConfig:
        """Inverse of `to_dict`; unknown keys are an error rather than silently dropped."""
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(values) - known)
        if unknown:
            raise FiloError(f"unknown FiLo config keys {unknown}; known keys: {sorted(known)}")
        return cls(**values)


def preset_config(preset: str, overrides: dict[str, Any] | None = None) -> FiLoConfig:
    """The FiLoConfig of a named preset with field overrides (e.g. {"taps": "paper"})."""
    if preset not in PRESETS:
        raise FiloError(f"unknown model preset {preset!r}; choose one of {PRESETS}")
    overrides = dict(overrides or {})
    return FiLoConfig.tiny(**overrides) if preset == "tiny" else FiLoConfig(**overrides)
