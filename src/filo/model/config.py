"""The one object that fully describes a FiLo model: enough to rebuild it from a checkpoint."""

from __future__ import annotations

import dataclasses
import logging
import typing
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

from filo.errors import FiloError
from filo.presets import read_preset
from filo.settings import check_choices

logger = logging.getLogger(__name__)
Conditioning = Literal["per_image", "authors"]
"""Whose global feature conditions a batch's prompts (see filo.model.text)."""
CONDITIONINGS: tuple[str, ...] = typing.get_args(Conditioning)

DiceReduction = Literal["authors", "per_image"]
"""How dice is reduced over a batch of maps [B, H, W].

`per_image`: one dice per image, averaged over the batch. `authors`: what the authors'
training step computes after `img_mask.squeeze()`: per image when the batch holds two or
more images, but per image *row* (averaged over the H rows) when it holds one, because
the squeezed mask is then [H, W] and their dice takes N = H. Their recipe trains at batch
size 1, so this per-row dice is the loss their checkpoints were trained with.
"""
DICE_REDUCTIONS: tuple[str, ...] = typing.get_args(DiceReduction)

Taps = Literal["authors", "paper"]
"""Which tensors the heads read: the authors' aliased taps, or the true layers (see filo.model.vision)."""
ResizeMode = Literal["squash", "shortest"]
"""How an image reaches the model's square input (see `FiLoConfig.resize_mode`)."""
RESIZE_MODES: tuple[str, ...] = typing.get_args(ResizeMode)

ModelPreset = Literal["paper", "tiny"]
"""Named model configurations, one JSON file each in filo/presets/ (`filo.presets`): "paper" (ViT-L-14-336 /
openai at 518, the authors' model) and "tiny" (a random-weight CLIP for the demo and tests)."""
PRESETS: tuple[str, ...] = typing.get_args(ModelPreset)


@dataclass(frozen=True)
class TrainingProvenance:
    """What a trained checkpoint was trained on, as `filo train` records it in the model config.

    The zero-shot check refuses to evaluate a model on its `trained_categories`, and
    prediction routes each category to a model not trained on it (preferring one whose
    `train_dataset` is MVTec). The other fields identify the run; None means "not recorded"
    (checkpoints written before they were).
    """

    train_dataset: str
    """The manifest's dataset name(s), e.g. "synth_mvtec"."""
    trained_categories: tuple[str, ...]
    """The raw category keys of the training split."""
    manifest_sha256: str | None = None
    descriptions_sha256: str | None = None
    epochs: int | None = None
    adapter_epochs: int | None = None
    seed: int | None = None

    def __post_init__(self) -> None:
        categories = self.trained_categories
        if isinstance(categories, str) or not all(isinstance(c, str) for c in categories):
            raise FiloError(
                f"trained_categories must be a list of category names, got {categories!r}; "
                "re-create the checkpoint with `filo train`"
            )
        if not isinstance(self.train_dataset, str) or not self.train_dataset:
            raise FiloError(f"train_dataset must be a dataset name, got {self.train_dataset!r}")
        object.__setattr__(self, "trained_categories", tuple(categories))

    def to_dict(self) -> dict[str, Any]:
        """Plain-JSON form, stored under "provenance" in the checkpoint config."""
        values = dataclasses.asdict(self)
        values["trained_categories"] = list(self.trained_categories)
        return values

    @classmethod
    def from_dict(cls, values: Mapping[str, Any]) -> TrainingProvenance:
        """Inverse of `to_dict`; unknown or missing keys are an error naming them."""
        fields = {f.name: f for f in dataclasses.fields(cls)}
        unknown = sorted(set(values) - set(fields))
        if unknown:
            raise FiloError(f"unknown training provenance keys {unknown}; known keys: {sorted(fields)}")
        required = [name for name, f in fields.items() if f.default is dataclasses.MISSING]
        missing = [name for name in required if name not in values]
        if missing:
            raise FiloError(
                f"training provenance lacks {missing} (found {sorted(values)}); "
                "re-create the checkpoint with `filo train`"
            )
        return cls(**values)

    @classmethod
    def from_legacy_extra(cls, extra: Mapping[str, Any]) -> TrainingProvenance | None:
        """The record held by an old checkpoint's free-form `extra` notes (None if it holds none).

        Checkpoints written before this record kept the same fields as loose keys of
        `FiLoConfig.extra`; an untrained one (`filo model init`) kept none. Keys that are
        not provenance fields are dropped with a warning naming them.
        """
        known = {f.name for f in dataclasses.fields(cls)}
        ignored = sorted(set(extra) - known)
        if ignored:
            logger.warning("ignoring checkpoint config extra keys %s (not training provenance)", ignored)
        values = {key: value for key, value in extra.items() if key in known}
        return cls.from_dict(values) if "trained_categories" in values else None


@dataclass(frozen=True, kw_only=True)
class FiLoConfig:
    """Architecture and inference settings of a FiLo model.

    The architecture (backbone, weights, input size, tapped layers) has no default: it comes
    from a preset file (`preset_config`, e.g. "paper") or a checkpoint's config. Every other
    field defaults to the authors' behaviour; each deviation from it is a named option.
    """

    clip_name: str
    """open_clip model name."""
    clip_pretrained: str | None
    """open_clip pretrained tag, a local checkpoint path, or None for seeded random weights."""
    clip_weights_tag: str | None = None
    """Required when `clip_pretrained` is a local file: the open_clip tag whose weights it holds
    (e.g. "openai", which sets QuickGELU and OpenAI's preprocessing exactly as the tag does), or
    "custom" for weights of your own. Unused otherwise."""
    clip_seed: int = 0
    """Seed of the random CLIP weights when `clip_pretrained` is None."""
    image_size: int
    """Input size; positional embeddings are resized to it when the checkpoint differs."""
    resize_mode: ResizeMode = "squash"
    """How images (and masks) reach image_size: "squash" resizes to a square as the authors'
    open_clip fork does; "shortest" is upstream open_clip's shorter-side resize + centre crop,
    which drops the borders of non-square images (VisA)."""
    qkv_layers: tuple[int, ...]
    """1-based blocks whose QKV-path tokens feed the linear heads."""
    vv_layers: tuple[int, ...]
    """1-based blocks whose VV-path tokens feed MMCI."""
    vv_start: int
    """First block that runs the dual QKV/VV path."""
    taps: Taps = "authors"
    """Which tensors the heads read: the authors' aliased taps, or the true layers (see vision.py)."""
    n_ctx: int = 12
    """Learnable context vectors per prompt learner."""
    conditioning: Conditioning = "per_image"
    """Whose global feature conditions a batch's prompts: each image's own ("per_image"), or the
    batch's first image's ("authors", their code's rule). Equal at batch size 1, the authors'
    setting; "per_image" keeps batched results equal to theirs (see filo.model.text)."""
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
    provenance: TrainingProvenance | None = None
    """What the model was trained on (set by `filo train`; None for an untrained model); not used by the model."""

    def __post_init__(self) -> None:
        check_choices(self)
        if self.image_size <= 0 or self.n_ctx <= 0:
            raise FiloError(f"image_size and n_ctx must be positive, got {self.image_size}, {self.n_ctx}")
        if not 0.0 <= self.box_lambda <= 1.0:
            raise FiloError(f"box_lambda must be in [0, 1], got {self.box_lambda}")
        if self.smoothing_kernel and self.smoothing_kernel % 2 == 0:
            raise FiloError(f"smoothing_kernel must be odd (or 0 to disable), got {self.smoothing_kernel}")
        if self.provenance is not None and not isinstance(self.provenance, TrainingProvenance):
            raise FiloError(f"provenance must be a TrainingProvenance, got {type(self.provenance).__name__}")
        object.__setattr__(self, "qkv_layers", tuple(self.qkv_layers))
        object.__setattr__(self, "vv_layers", tuple(self.vv_layers))

    def to_dict(self) -> dict[str, Any]:
        """Plain-JSON form, for checkpoints and MLflow params."""
        values = dataclasses.asdict(self)
        values["qkv_layers"] = list(self.qkv_layers)
        values["vv_layers"] = list(self.vv_layers)
        values["provenance"] = self.provenance.to_dict() if self.provenance is not None else None
        return values

    @classmethod
    def from_dict(cls, values: Mapping[str, Any]) -> FiLoConfig:
        """Inverse of `to_dict`; unknown keys are an error rather than silently dropped.

        Also reads the config of checkpoints written before `provenance` existed: their
        free-form `extra` notes become the provenance record (see
        `TrainingProvenance.from_legacy_extra`).
        """
        values = dict(values)
        if "extra" in values:
            if "provenance" in values:
                raise FiloError("a FiLo config holds both 'provenance' and the old 'extra'; keep only 'provenance'")
            values["provenance"] = TrainingProvenance.from_legacy_extra(values.pop("extra") or {})
        elif values.get("provenance") is not None:
            values["provenance"] = TrainingProvenance.from_dict(values["provenance"])
        fields = dataclasses.fields(cls)
        unknown = sorted(set(values) - {f.name for f in fields})
        if unknown:
            raise FiloError(f"unknown FiLo config keys {unknown}; known keys: {sorted(f.name for f in fields)}")
        required = [f.name for f in fields
                    if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING]
        missing = [name for name in required if name not in values]
        if missing:
            raise FiloError(f"a FiLo config lacks the architecture keys {missing}; give them, or build the config "
                            f"from a preset with filo.model.config.preset_config (one of {list(PRESETS)})")
        return cls(**values)


def preset_config(preset: str, overrides: Mapping[str, Any] | None = None) -> FiLoConfig:
    """The FiLoConfig of the named preset (its file, read by `filo.presets.read_preset`) with field overrides,
    e.g. {"taps": "paper"}.

    An unknown preset, or an override that is no FiLoConfig field, is a FiloError listing
    what is available.
    """
    if preset not in PRESETS:
        raise FiloError(f"unknown model preset {preset!r}; choose one of {list(PRESETS)}")
    values = {**read_preset(preset), **(overrides or {})}
    known = {f.name for f in dataclasses.fields(FiLoConfig)}
    unknown = sorted(set(values) - known)
    if unknown:
        raise FiloError(f"unknown FiLo config keys {unknown} in preset {preset!r} or its overrides; "
                        f"known keys: {sorted(known)}")
    return FiLoConfig(**values)
