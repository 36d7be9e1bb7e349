"""The settings of a registration (params section `register`), in a module light enough for the CLI to import."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import ClassVar

from filo.errors import FiloError
from filo.registry.promotion import DEFAULT_GATE_METRICS, Gate

DEFAULT_MODEL_NAME = "filo"
DEFAULT_EXPERIMENT = "filo"
DEFAULT_MODEL_URI = f"models:/{DEFAULT_MODEL_NAME}@champion"
"""The model `filo predict` and `filo calibrate` use unless told otherwise."""
DEFAULT_TARGET_FPR = 0.05
"""The share of good images a calibrated threshold may flag unless told otherwise (`filo calibrate`)."""


@dataclass(frozen=True)
class RegisterSettings:
    """Where and how a model version is registered (params section `register`)."""

    SECTION: ClassVar[str] = "register"

    name: str = DEFAULT_MODEL_NAME
    """Registered model name."""
    experiment: str = field(default=DEFAULT_EXPERIMENT, metadata={"affects_result": False})
    """MLflow experiment of the registration run."""
    gate_metrics: tuple[str, ...] = DEFAULT_GATE_METRICS
    """Mean metrics averaged into a direction's gate value (promotion: none regresses, one improves)."""
    dvc_lock: Path = Path("dvc.lock")
    """dvc.lock whose md5s identify the inputs in the lineage tags."""
    calibrate_fpr: float | None = None
    """Recalibrate each verdict at this false-positive rate on the good images of its calibration manifest, scored
    as the registered model serves them (no detector); none: keep the threshold `filo evaluate` chose."""

    def __post_init__(self) -> None:
        if self.calibrate_fpr is not None and not 0.0 <= self.calibrate_fpr < 1.0:
            raise FiloError(f"register.calibrate_fpr must lie in [0, 1), got {self.calibrate_fpr}")

    @property
    def gate(self) -> Gate:
        """The promotion gate over `gate_metrics`."""
        return Gate(self.gate_metrics)
