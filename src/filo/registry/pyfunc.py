"""The registered MLflow pyfunc model: a table of images and categories in, predictions and maps out.

Input: a DataFrame, one row per image, with ``category`` (raw or display name) and either
``image`` (the image file's bytes; over REST, base64-encoded as MLflow does for binary
columns) or ``image_path`` (a file readable by the serving process). So a client on another
machine can send the image itself to ``mlflow models serve -m models:/filo@champion``::

    POST /invocations
    {"dataframe_split": {"columns": ["image", "category"], "data": [["<base64 bytes>", "wood_grain"]]},
     "params": {"raw_maps": "npy"}}        (params optional)

Output, one row per input row, in order: ``score``, ``verdict`` ("anomalous"/"normal" by the
category's own registered calibration (`filo calibrate --register`), else the threshold of the
direction that served the row), ``threshold`` and ``calibration`` (how it was chosen: {rule,
target_fpr, n_good, category, dataset, images_digest, summary}; ``summary`` names the
calibration or says that the threshold comes from another dataset), ``descriptions_source``
("paper", "user", "llm:<model>" or "generic"), ``position`` (always null: the registered bundle
has no Grounding DINO detector, so positions are averaged and no box suppression is
applied; `filo predict` can add live boxes), ``top_descriptions`` (list of {description,
similarity}), ``anomaly_map_png`` (the heat-map overlay at the image's resolution, a
base64-encoded PNG), ``raw_map`` (base64 of the raw map as .npy or 16-bit PNG when param
``raw_maps`` asks for one), ``anomaly_map_path`` (the overlay file, for ``image_path`` rows
only), ``model`` (the direction used) and ``error`` (why a row's image could not be read;
its other results are then null).

Overlays of ``image_path`` rows go to the ``output_dir`` of the model config
(``mlflow.pyfunc.load_model(uri, model_config={"output_dir": ...})``), else
``$FILO_PREDICT_OUT_DIR``, else a new temporary folder; those of ``image`` rows only live
for the request. ``device`` in the model config picks the torch device (default: cuda if
available). The serving environment needs the `filo` package installed (the model's pip
requirements list filo's dependencies). The categories' own calibrations are read from the
registry version this model was registered as (found by the run id in its MLmodel, in the
store of ``$MLFLOW_TRACKING_URI``) at every request, so one registered while the server runs
applies from the next request. A version registered with exports (`filo register --export DIR`)
serves their categories with onnxruntime (same outputs within 1e-4, at the direction's
threshold); model config ``runtime`` "torch" serves everything with torch.
"""

from __future__ import annotations

import base64
import importlib.metadata
import logging
import os
import tempfile
import threading
from pathlib import Path
from typing import Any

import mlflow.pyfunc
import pandas as pd
from mlflow.models import ModelSignature
from mlflow.types import ParamSchema, ParamSpec
from mlflow.types.schema import Array, ColSpec, Object, Property, Schema

from filo.device import resolve_device
from filo.errors import FiloError
from filo.registry.bundle import read_bundle
from filo.registry.versions import BUNDLE_ARTIFACT, EXPORTS_ARTIFACT

logger = logging.getLogger(__name__)

OUTPUT_DIR_ENV = "FILO_PREDICT_OUT_DIR"
IMAGE_COLUMNS = ("image", "image_path")
"""Each row gives exactly one of these: the image's bytes or a path on the serving machine."""
CATEGORY_COLUMN = "category"
OUTPUT_COLUMNS = ("score", "verdict", "threshold", "calibration", "descriptions_source", "position",
                  "top_descriptions", "anomaly_map_png", "raw_map", "anomaly_map_path", "model", "error")
PARAM_DEFAULTS = {"raw_maps": ""}
"""Per-request parameters: ``raw_maps`` "npy" or "png16" also returns the raw map ("": none)."""
MODEL_CONFIG_DEFAULTS = {"output_dir": "", "device": "", "runtime": ""}
"""Settings `load_model(..., model_config=...)` may override ("": overlays in a temporary folder; auto device;
runtime: the version's exports for their categories, torch for the rest; "torch": torch only)."""
SERVING_RUNTIMES = ("", "torch")


def model_signature():
    """The pyfunc signature: input and output columns with their types."""
    descriptions = Array(Object([Property("description", "string"), Property("similarity", "double")]))
    calibration = Object([Property("rule", "string"), Property("target_fpr", "double", required=False),
                          Property("n_good", "long", required=False), Property("category", "string", required=False),
                          Property("dataset", "string", required=False),
                          Property("images_digest", "string", required=False),
                          Property("summary", "string", required=False)])
    inputs = Schema([
        ColSpec("binary", "image", required=False),
        ColSpec("string", "image_path", required=False),
        ColSpec("string", CATEGORY_COLUMN),
    ])
    outputs = Schema([
        ColSpec("double", "score", required=False),
        ColSpec("string", "verdict", required=False),
        ColSpec("double", "threshold", required=False),
        ColSpec(calibration, "calibration", required=False),
        ColSpec("string", "descriptions_source", required=False),
        ColSpec("string", "position", required=False),
        ColSpec(descriptions, "top_descriptions", required=False),
        ColSpec("string", "anomaly_map_png", required=False),
        ColSpec("string", "raw_map", required=False),
        ColSpec("string", "anomaly_map_path", required=False),
        ColSpec("string", "model", required=False),
        ColSpec("string", "error", required=False),
    ])
    params = ParamSchema([ParamSpec(name, "string", default) for name, default in PARAM_DEFAULTS.items()])
    return ModelSignature(inputs=inputs, outputs=outputs, params=params)


def runtime_requirements() -> list[str]:
    """filo's own runtime dependencies (no extras), as pip requirement lines."""
    requirements = importlib.metadata.requires("filo") or []
    return [line for line in requirements if "extra ==" not in line]


class FiLoPyfuncModel(mlflow.pyfunc.PythonModel):
    """Serves a model bundle (see `filo.registry.bundle`) through the pyfunc interface."""

    def load_context(self, context: Any) -> None:
        """Open the bundle artifact and choose where overlays go."""
        config = dict(context.model_config or {})
        configured = config.get("output_dir") or os.environ.get(OUTPUT_DIR_ENV)
        self._output_dir = Path(configured) if configured else None
        runtime = config.get("runtime") or ""
        if runtime not in SERVING_RUNTIMES:
            raise FiloError(f"model_config runtime must be one of {SERVING_RUNTIMES}, got {runtime!r}")
        bundle_dir = context.artifacts[BUNDLE_ARTIFACT]
        # The scoring server calls predict from several threads; the predictor loads and prepares models
        # lazily and a forward already uses every core, so requests take turns (one forward at a time).
        self._forward_lock = threading.Lock()
        bundle = read_bundle(bundle_dir)
        self.predictor = bundle.predictor(device=resolve_device(config.get("device")),
                                          calibrations=registered_calibrations(bundle_dir))
        self.exports = {}
        """Category -> predictor running the version's export of it with onnxruntime."""
        if runtime == "" and EXPORTS_ARTIFACT in context.artifacts:
            from filo.registry.exporting import export_predictors

            self.exports = export_predictors(context.artifacts[EXPORTS_ARTIFACT], bundle)

    @property
    def output_dir(self) -> Path:
        """Where overlays go; a temporary folder is made on first use only if none was configured."""
        if self._output_dir is None:
            self._output_dir = Path(tempfile.mkdtemp(prefix="filo-maps-"))
        return self._output_dir

    def predict(self, context: Any, model_input: pd.DataFrame, params: dict | None = None) -> pd.DataFrame:
        """Predict every row; rows are grouped by category internally and returned in input order."""
        from filo.prediction.overlay import RAW_MAP_FORMATS

        frame = check_input(model_input)
        raw_format = str({**PARAM_DEFAULTS, **(params or {})}["raw_maps"] or "") or None
        if raw_format is not None and raw_format not in RAW_MAP_FORMATS:
            raise FiloError(f"param raw_maps must be one of {RAW_MAP_FORMATS} or empty, got {raw_format!r}")
        results: list[dict | None] = [None] * len(frame)
        with self._forward_lock, tempfile.TemporaryDirectory(prefix="filo-request-") as scratch:
            paths, sent = _image_files(frame, Path(scratch))
            for (category, uploaded), rows in frame.groupby([CATEGORY_COLUMN, sent], sort=False):
                key = self.predictor.category_key(str(category))
                out_dir = Path(scratch) / "maps" if uploaded else self.output_dir
                predictions = self.exports.get(key, self.predictor).predict(
                    [paths[row] for row in rows.index], key, out_dir, progress=False, raw_maps=raw_format
                )
                for row, prediction in zip(rows.index, predictions):
                    record = prediction.to_dict()
                    record["anomaly_map_png"] = _base64_file(record["anomaly_map_path"])
                    record["raw_map"] = _base64_file(record.pop("raw_map_path"))
                    if uploaded:
                        record["anomaly_map_path"] = None
                    results[row] = record
        return pd.DataFrame.from_records(results, columns=list(OUTPUT_COLUMNS))


def registered_calibrations(bundle_dir: str | os.PathLike):
    """The categories' registered calibrations of the version this served model is, or None when unknown.

    The version is found by the run id in the model's MLmodel file (above its bundle artifact)
    in the store of `filo.tracking.tracking_uri()`; no store, no run id or no single version: None.
    """
    from mlflow.exceptions import MlflowException
    from mlflow.models import Model

    from filo.registry.category_calibrations import RegistryCalibrations
    from filo.tracking import tracking_uri

    above = list(Path(bundle_dir).resolve().parents)[:3]  # <model>/artifacts/bundle
    root = next((folder for folder in above if (folder / "MLmodel").is_file()), None)
    uri = tracking_uri()
    if root is None or (uri.startswith("sqlite:///") and not Path(uri[len("sqlite:///"):]).is_file()):
        logger.info("no registry to read category calibrations from; serving the directions' thresholds")
        return None
    run_id = Model.load(str(root)).run_id
    try:
        versions = mlflow.MlflowClient(tracking_uri=uri, registry_uri=uri).search_model_versions(
            f"run_id = '{run_id}'")
    except MlflowException as error:
        logger.warning("cannot look up the registered version of run %s in %s (%s); serving the directions' "
                       "thresholds", run_id, uri, error.message)
        return None
    if len(versions) != 1:
        logger.info("run %s is registered as %d versions; serving the directions' thresholds", run_id, len(versions))
        return None
    return RegistryCalibrations(versions[0].name, versions[0].version)


def check_input(model_input: pd.DataFrame) -> pd.DataFrame:
    """The input table with a fresh index; FiloError unless every row has a category and exactly one image."""
    if CATEGORY_COLUMN not in model_input.columns or not any(c in model_input.columns for c in IMAGE_COLUMNS):
        raise FiloError(
            f"pyfunc input has columns {list(model_input.columns)}; give {CATEGORY_COLUMN!r} and one of "
            f"{list(IMAGE_COLUMNS)} (the image's bytes, or its path on the serving machine)"
        )
    frame = model_input.reset_index(drop=True)
    given = sum(frame[column].notna().astype(int) for column in IMAGE_COLUMNS if column in frame.columns)
    bad = frame.index[(given != 1) | frame[CATEGORY_COLUMN].isna()]
    if len(bad):
        raise FiloError(
            f"pyfunc input rows {bad.tolist()[:10]} lack a category or do not give exactly one of "
            f"{list(IMAGE_COLUMNS)}; give a category and either the image bytes or an image_path per row"
        )
    return frame


def _image_files(frame: pd.DataFrame, scratch: Path) -> tuple[dict[int, str], pd.Series]:
    """Row -> image file to read (sent bytes are written into `scratch`), and which rows sent bytes."""
    sent = frame["image"].notna() if "image" in frame.columns else pd.Series(False, index=frame.index)
    paths = {}
    for row in frame.index:
        if sent[row]:
            data = frame.at[row, "image"]
            if isinstance(data, str):  # a JSON client that bypassed MLflow's schema decoding
                data = base64.b64decode(data, validate=True)
            path = scratch / f"image-{row}"
            path.write_bytes(bytes(data))
            paths[row] = str(path)
        else:
            paths[row] = str(frame.at[row, "image_path"])
    return paths, sent.rename("sent")


def _base64_file(path: str | None) -> str | None:
    """The file's bytes as base64 text (None for no file)."""
    return base64.b64encode(Path(path).read_bytes()).decode("ascii") if path else None


def input_example(bundle_dir: str | os.PathLike) -> pd.DataFrame:
    """A one-row input for the model's docs: a small grey PNG of the default direction's first category."""
    from PIL import Image

    from filo.descriptions import load_descriptions
    from filo.prediction.overlay import png_bytes
    from filo.registry.bundle import read_bundle

    bundle = read_bundle(bundle_dir)
    categories = sorted(load_descriptions(bundle.directions[bundle.default_direction].files.descriptions))
    return pd.DataFrame({"image": [png_bytes(Image.new("RGB", (32, 32), (128, 128, 128)))],
                         CATEGORY_COLUMN: categories[:1]})


def log_bundle_model(bundle_dir: str | os.PathLike, *, exports_dir: str | os.PathLike | None = None,
                     name: str = "model") -> Any:
    """Log a bundle folder as a pyfunc model in the active MLflow run; returns MLflow's ModelInfo.

    `exports_dir` (optional) holds `filo export` folders of the bundle's checkpoints, one per
    category (`filo.registry.exporting.collect_exports`); the model serves those categories with them.

    The model is logged "from code" (`serving_model.py`), not pickled. Its signature and
    input example document the input; MLflow checks the example by predicting it once.
    """
    return mlflow.pyfunc.log_model(
        name=name,
        python_model=str(Path(__file__).with_name("serving_model.py")),
        artifacts={BUNDLE_ARTIFACT: str(bundle_dir),
                   **({EXPORTS_ARTIFACT: str(exports_dir)} if exports_dir is not None else {})},
        signature=model_signature(),
        input_example=(input_example(bundle_dir), dict(PARAM_DEFAULTS)),
        pip_requirements=runtime_requirements(),
        model_config=MODEL_CONFIG_DEFAULTS,
    )
