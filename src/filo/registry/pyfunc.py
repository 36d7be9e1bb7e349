"""The registered MLflow pyfunc model: a table of image paths and categories in, predictions out.

Input: a DataFrame with columns ``image_path`` (readable from the serving process) and
``category`` (raw or display name). Output, one row per input row, in order: ``score``,
``verdict`` ("anomalous"/"normal" by the threshold of the direction that served the row),
``threshold`` and ``calibration`` (how it was chosen: {rule, target_fpr, n_good}),
``position`` (always null: the registered bundle has no Grounding DINO detector, so
positions are averaged and no box suppression is applied; `filo predict` can add live
boxes), ``top_descriptions`` (list of {description, similarity}), ``anomaly_map_path`` (the
heat-map overlay PNG), ``model`` (the direction used) and ``error`` (why a row's image could
not be read; its other results are then null).

Overlays go to the ``output_dir`` of the model config (``mlflow.pyfunc.load_model(uri,
model_config={"output_dir": ...})``), else ``$FILO_PREDICT_OUT_DIR``, else a new temporary
folder; ``device`` in the model config picks the torch device (default: cuda if available). The serving environment needs the `filo` package installed (the model's pip
requirements list filo's dependencies).
"""

from __future__ import annotations

import importlib.metadata
import logging
import os
import tempfile
from pathlib import Path
from typing import Any

import mlflow.pyfunc
import pandas as pd

from filo.errors import FiloError

logger = logging.getLogger(__name__)

BUNDLE_ARTIFACT = "bundle"
OUTPUT_DIR_ENV = "FILO_PREDICT_OUT_DIR"
INPUT_COLUMNS = ("image_path", "category")
OUTPUT_COLUMNS = ("score", "verdict", "threshold", "calibration", "position", "top_descriptions",
                  "anomaly_map_path", "model", "error")
MODEL_CONFIG_DEFAULTS = {"output_dir": "", "device": ""}
"""Settings `load_model(..., model_config=...)` may override ("": overlays in a temporary folder; auto device)."""


def model_signature():
    """The pyfunc signature: input and output columns with their types."""
    from mlflow.models import ModelSignature
    from mlflow.types.schema import Array, ColSpec, Object, Property, Schema

    descriptions = Array(Object([Property("description", "string"), Property("similarity", "double")]))
    calibration = Object([Property("rule", "string"), Property("target_fpr", "double", required=False),
                          Property("n_good", "long", required=False)])
    inputs = Schema([ColSpec("string", name) for name in INPUT_COLUMNS])
    outputs = Schema([
        ColSpec("double", "score", required=False),
        ColSpec("string", "verdict", required=False),
        ColSpec("double", "threshold", required=False),
        ColSpec(calibration, "calibration", required=False),
        ColSpec("string", "position", required=False),
        ColSpec(descriptions, "top_descriptions", required=False),
        ColSpec("string", "anomaly_map_path", required=False),
        ColSpec("string", "model", required=False),
        ColSpec("string", "error", required=False),
    ])
    return ModelSignature(inputs=inputs, outputs=outputs)


def runtime_requirements() -> list[str]:
    """filo's own runtime dependencies (no extras), as pip requirement lines."""
    requirements = importlib.metadata.requires("filo") or []
    return [line for line in requirements if "extra ==" not in line]


class FiLoPyfuncModel(mlflow.pyfunc.PythonModel):
    """Serves a model bundle (see `filo.registry.bundle`) through the pyfunc interface."""

    def load_context(self, context: Any) -> None:
        """Open the bundle artifact and choose where overlays go."""
        from filo.evaluation.evaluate import resolve_device
        from filo.registry.bundle import read_bundle

        config = dict(context.model_config or {})
        configured = config.get("output_dir") or os.environ.get(OUTPUT_DIR_ENV)
        self._output_dir = Path(configured) if configured else None
        self.predictor = read_bundle(context.artifacts[BUNDLE_ARTIFACT]).predictor(
            device=resolve_device(config.get("device") or None)
        )

    @property
    def output_dir(self) -> Path:
        """Where overlays go; a temporary folder is made on first use only if none was configured."""
        if self._output_dir is None:
            self._output_dir = Path(tempfile.mkdtemp(prefix="filo-maps-"))
        return self._output_dir

    def predict(self, context: Any, model_input: pd.DataFrame, params: dict | None = None) -> pd.DataFrame:
        """Predict every row; rows are grouped by category internally and returned in input order."""
        missing = [column for column in INPUT_COLUMNS if column not in model_input.columns]
        if missing:
            raise FiloError(f"pyfunc input lacks columns {missing}; give a table with columns {list(INPUT_COLUMNS)}")
        frame = model_input.reset_index(drop=True)
        incomplete = frame[list(INPUT_COLUMNS)].isna().any(axis=1)
        if incomplete.any():
            raise FiloError(
                f"pyfunc input rows {frame.index[incomplete].tolist()[:10]} lack an image_path or a category; "
                "give both for every row"
            )
        results: list[dict | None] = [None] * len(frame)
        for category, rows in frame.groupby("category", sort=False):
            key = self.predictor.category_key(str(category))
            predictions = self.predictor.predict(
                rows["image_path"].astype(str).tolist(), key, self.output_dir, progress=False
            )
            for row, prediction in zip(rows.index, predictions):
                results[row] = prediction.to_dict()
        return pd.DataFrame.from_records(results, columns=list(OUTPUT_COLUMNS))


def log_bundle_model(bundle_dir: str | os.PathLike, *, name: str = "model") -> Any:
    """Log a bundle folder as a pyfunc model in the active MLflow run; returns MLflow's ModelInfo.

    The model is logged "from code" (`serving_model.py`), not pickled.
    """
    return mlflow.pyfunc.log_model(
        name=name,
        python_model=str(Path(__file__).with_name("serving_model.py")),
        artifacts={BUNDLE_ARTIFACT: str(bundle_dir)},
        signature=model_signature(),
        pip_requirements=runtime_requirements(),
        model_config=MODEL_CONFIG_DEFAULTS,
    )
