"""Every number and switch of a training run, with the authors' values as defaults.

`TrainParams` is read from the `train:` section of `params.yaml` (DVC's parameter file).
Fields marked `affects_result=False` (workers, logging, progress) may change between a
run and its `--resume`; every other field is part of the run's fingerprint.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any, ClassVar, Literal

from filo.data.mosaic import MosaicLabel
from filo.errors import FiloError
from filo.model.config import DiceReduction, ModelPreset
from filo.settings import check_choices

MVTEC_AUG_RATE = 0.2
"""The authors' mosaic augmentation rate, which they apply to MVTec-layout sources only."""


def _runtime(default: Any) -> Any:
    """A field that does not change the trained weights (excluded from the resume fingerprint)."""
    return field(default=default, metadata={"affects_result": False})


@dataclass(frozen=True)
class TrainParams:
    """Hyper-parameters and run settings of `filo train` (params section `train`).

    Every default is the authors' recipe as their code runs it (`train.py`, batch size 1,
    fp32, ViT-L-14-336); each other value is a named option. The demo profile's
    `params.yaml` overrides some of them for CPU speed and says why.
    """

    SECTION: ClassVar[str] = "train"

    seed: int = 0
    """Fixes head/prompt-learner initialization, data order and augmentation."""
    epochs: int = 15
    """Phase 1 epochs (prompt learners + linear/MMCI heads)."""
    adapter_epochs: int = 5
    """Phase 2 epochs (adapter only)."""
    prompt_lr: float = 1e-3
    """Phase 1 learning rate of the context vectors and meta-nets (both prompt learners)."""
    head_lr: float = 1e-4
    """Phase 1 learning rate of the linear and MMCI heads."""
    adapter_lr: float = 1e-5
    """Phase 2 learning rate of the adapter."""
    betas: tuple[float, float] = (0.5, 0.999)
    """AdamW betas of both phases."""
    weight_decay: float = 0.01
    """AdamW weight decay of both phases (torch's default, which the authors keep)."""
    focal_gamma: float = 2.0
    """Phase 1: focusing parameter γ of the focal loss."""
    dice_reduction: DiceReduction = "authors"
    """Phase 1 dice over a batch: 'authors' (per image, but per image row when a batch holds
    one image, as their squeezed mask makes it) or 'per_image' (see filo.model.losses)."""
    temperature: float = 0.07
    """Phase 2: the [normal, abnormal] similarities are divided by this before cross-entropy."""
    batch_size: int = 1
    """Images per step, all of one category (1 reproduces the authors)."""
    aug_rate: float | None = None
    """Mosaic probability; None: 0.2 for an MVTec-layout source, 0 for a VisA-layout one (the authors' rule)."""
    mosaic_label: MosaicLabel = "authors"
    """Label of a mosaic: 'authors' (the indexed image's, as their dataset keeps it) or 'mosaic'
    (anomalous when any tile is; only phase 2 reads labels)."""
    max_steps_per_epoch: int | None = None
    """Stop every epoch after this many steps (None: a full pass over the split, as the authors train);
    for rehearsals and smoke runs at full model size."""
    amp: bool = False
    """bf16 autocast on the training device (CUDA or CPU), a speed option; the authors train in fp32."""
    deterministic: bool = True
    """Ask torch for deterministic kernels (warns where a CUDA kernel has none)."""
    model_preset: ModelPreset = "paper"
    """Model config when no --init checkpoint is given: a preset of filo/presets/, 'paper' (ViT-L-14-336 /
    openai at 518) or 'tiny' (the demo's and tests' random-weight CLIP)."""
    model_overrides: dict[str, Any] = field(default_factory=dict)
    """FiLoConfig fields overriding the preset, e.g. {taps: paper}."""
    device: Literal["auto", "cpu", "cuda"] = _runtime("auto")
    """'auto' (CUDA when available), 'cpu' or 'cuda'."""
    num_workers: int = _runtime(0)
    """DataLoader worker processes (results do not depend on it)."""
    mlflow: bool = _runtime(True)
    """Log the run to MLflow (see filo.tracking)."""
    experiment: str = _runtime("filo")
    """MLflow experiment name."""
    progress: bool = _runtime(True)
    """Show per-epoch progress bars."""

    def __post_init__(self) -> None:
        object.__setattr__(self, "betas", tuple(float(b) for b in self.betas))
        object.__setattr__(self, "model_overrides", dict(self.model_overrides or {}))
        check_choices(self)
        problems = []
        if self.epochs < 0 or self.adapter_epochs < 0:
            problems.append(f"epochs/adapter_epochs must be >= 0, got {self.epochs}/{self.adapter_epochs}")
        if self.batch_size < 1:
            problems.append(f"batch_size must be >= 1, got {self.batch_size}")
        if min(self.prompt_lr, self.head_lr, self.adapter_lr) < 0 or self.temperature <= 0:
            problems.append("learning rates must be >= 0 and temperature > 0")
        if len(self.betas) != 2 or not all(0.0 <= b < 1.0 for b in self.betas):
            problems.append(f"betas must be two numbers in [0, 1), got {list(self.betas)}")
        if self.max_steps_per_epoch is not None and self.max_steps_per_epoch < 1:
            problems.append(f"max_steps_per_epoch must be >= 1 (or null for full epochs), got {self.max_steps_per_epoch}")
        if self.aug_rate is not None and not 0.0 <= self.aug_rate <= 1.0:
            problems.append(f"aug_rate must lie in [0, 1] (or be null for the automatic rule), got {self.aug_rate}")
        if self.num_workers < 0:
            problems.append(f"num_workers must be >= 0, got {self.num_workers}")
        if problems:
            raise FiloError("invalid training parameters: " + "; ".join(problems))

    def to_dict(self) -> dict[str, Any]:
        """Plain-YAML/JSON form (betas as a list)."""
        values = dataclasses.asdict(self)
        values["betas"] = list(self.betas)
        return values

    def fingerprint_dict(self) -> dict[str, Any]:
        """The fields that determine the trained weights (what `--resume` must find unchanged)."""
        runtime = {f.name for f in dataclasses.fields(self) if not f.metadata.get("affects_result", True)}
        return {key: value for key, value in self.to_dict().items() if key not in runtime}
