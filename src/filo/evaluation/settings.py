"""The settings of an evaluation (params section `evaluate`), in a module light enough for the CLI to import."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import ClassVar

from filo.boxes.geometry import Rule
from filo.errors import FiloError
from filo.evaluation.mlflow_log import DEFAULT_EXPERIMENT
from filo.evaluation.verdict import ThresholdRule
from filo.settings import check_choices


@dataclass(frozen=True)
class EvaluationSettings:
    """How an evaluation runs; the same knobs as the `filo evaluate` options.

    `threshold_rule` "f1" picks the F1-optimal verdict threshold, "fpr" the one keeping the
    false-positive rate on normal images at most `target_fpr`. `gallery_size` best and worst
    images go into the gallery (0: none). `bins` quantises pixel scores (None: exact).
    `box_lambda` replaces the checkpoint's λ for pixels outside the kept boxes (None keeps it);
    it acts only at inference, so changing it needs no retraining. `experiment=None` turns
    MLflow logging off.
    """

    SECTION: ClassVar[str] = "evaluate"

    box_rule: Rule = "authors"
    """How boxes become pixel masks: 'authors' (the reference code's cells) or 'sane'."""
    threshold_rule: ThresholdRule = "f1"
    """Verdict threshold: 'f1' (F1-optimal) or 'fpr' (false-positive rate on normal images at most target_fpr)."""
    target_fpr: float = 0.05
    """False-positive rate on normal images for threshold_rule fpr."""
    allow_overlap: bool = False
    """Allow categories the model was trained on (an in-domain check, not zero-shot)."""
    batch_size: int = 8
    """Images per forward pass."""
    num_workers: int = field(default=0, metadata={"affects_result": False})
    """DataLoader worker processes."""
    device: str | None = field(default=None, metadata={"affects_result": False})
    """Torch device (none: CUDA when available, else CPU)."""
    gallery_size: int = 4
    """Best and worst images each in the gallery; 0 disables it."""
    pro_fpr_limit: float = 0.3
    """FPR limit of the AUPRO integral."""
    bins: int | None = None
    """Quantise pixel scores into this many bins (approximate); none: exact metrics."""
    box_lambda: float | None = None
    """Factor for map pixels outside the kept boxes, replacing the checkpoint's (none: keep it, 0.7)."""
    amp: bool = False
    """bf16 autocast for the forward pass (a speed option, fp32 by default; see benchmarks/README.md, Precision)."""
    experiment: str | None = field(default=DEFAULT_EXPERIMENT, metadata={"affects_result": False})
    """MLflow experiment of the run; none turns MLflow logging off."""

    def __post_init__(self) -> None:
        check_choices(self)
        if not 0.0 <= self.target_fpr < 1.0:
            raise FiloError(f"evaluate.target_fpr must lie in [0, 1) (a share of the normal images), "
                            f"got {self.target_fpr}")
        if self.batch_size < 1:
            raise FiloError(f"evaluate.batch_size must be at least 1, got {self.batch_size}")
        if self.num_workers < 0:
            raise FiloError(f"evaluate.num_workers must be 0 (load in the main process) or more, "
                            f"got {self.num_workers}")
        if self.gallery_size < 0:
            raise FiloError(f"gallery size must be 0 (no gallery) or more, got {self.gallery_size}")
        if not 0.0 < self.pro_fpr_limit <= 1.0:
            raise FiloError(f"the AUPRO FPR limit must be in (0, 1], got {self.pro_fpr_limit}")
        if self.box_lambda is not None and not 0.0 <= self.box_lambda <= 1.0:
            raise FiloError(f"box_lambda must be in [0, 1], got {self.box_lambda}")
        if self.bins is not None and self.bins < 2:
            raise FiloError(f"bins must be at least 2 (or unset for exact metrics), got {self.bins}")

    def to_dict(self) -> dict:
        """The settings as a plain dict (MLflow params)."""
        return dataclasses.asdict(self)
