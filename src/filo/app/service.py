"""What the inspection page shows, as plain data: predictions, evaluation results and the registry.

`Workspace` holds the app's state: one `Predictor` per model reference (loaded once; with
`app.runtime` "onnx", the exports the reference names, run by onnxruntime for their categories
only), a scratch folder for uploads and overlays (one folder per request, the oldest deleted
beyond `app.scratch_mb`: `scratch.ScratchResults`), and the files the page may fetch back
(only those the workspace itself registered, by token). Every path a request names, and every file
served, must lie under `app.roots` (`access.Roots`; else `AccessDenied`), and forwards
run within `app.max_concurrent` slots (`limits.WorkLimit`). Every problem a user can cause (a non-image
upload, a huge image, a category name that is a path, a folder without images) raises `FiloError`
with a message the page shows as is.
"""

from __future__ import annotations

import hashlib
import io
import json
import logging
import math
import tempfile
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from filo.app.access import Roots
from filo.app.limits import WorkLimit
from filo.app.scratch import ScratchResults
from filo.app.settings import AppSettings
from filo.errors import FiloError

logger = logging.getLogger(__name__)

T = TypeVar("T")

FILTERS = ("all", "fp", "fn")
"""Results view image filters: every image, false positives, false negatives."""


@dataclass(frozen=True)
class Page:
    """One page of a longer list."""

    items: list[Any]
    page: int
    pages: int
    total: int


def paginate(items: list[Any], page: int, size: int) -> Page:
    """Page `page` (1-based, clamped to the valid range) of `items`."""
    pages = max(1, math.ceil(len(items) / size))
    page = min(max(1, page), pages)
    return Page(items[(page - 1) * size : page * size], page, pages, len(items))


class Workspace:
    """The app's predictors, scratch files and the files it serves back."""

    def __init__(self, settings: AppSettings) -> None:
        if settings.runtime != "torch" and settings.device not in (None, "cpu"):
            raise FiloError(f"the {settings.runtime} runtime runs on CPU; drop --device {settings.device} or use "
                            "--runtime torch")
        self.settings = settings
        self._scratch = tempfile.TemporaryDirectory(prefix="filo-app-")
        self.root = Path(self._scratch.name)
        self.scratch_results = ScratchResults(self.root / "predictions", int(settings.scratch_mb * 1e6))
        self._predictors: dict[str, Any] = {}
        self._files: dict[str, Path] = {}
        self._files_lock = threading.Lock()
        self._lock = threading.Lock()
        self._ready: set[tuple[str, str]] = set()
        self.roots = Roots(settings.roots, self.root)
        self.limit = WorkLimit(settings.max_concurrent, settings.max_queue)
        self.stopping = threading.Event()
        self._executor = ThreadPoolExecutor(max_workers=self.limit.capacity, thread_name_prefix="filo-app-predict")

    def close(self) -> None:
        """Stop forwards at their next batch and delete the scratch folder."""
        self.stopping.set()
        self._executor.shutdown(wait=False, cancel_futures=True)
        self._scratch.cleanup()

    async def off_loop(self, function: Callable[..., T], *args: Any) -> T:
        """`function(*args)` on the prediction threads (idle ones end at once when the app exits, unlike the
        server's shared thread pool)."""
        import asyncio

        return await asyncio.get_running_loop().run_in_executor(self._executor, function, *args)

    # ---- files the page may fetch -------------------------------------------------------
    def publish(self, path: str | Path) -> str:
        """A URL under /files/ for `path` (the only way the page reads files); AccessDenied outside app.roots."""
        path = self.roots.require(path, "file")
        token = hashlib.sha256(str(path).encode("utf-8")).hexdigest()[:20]
        with self._files_lock:
            self._files[token] = path
        return f"/files/{token}{path.suffix.lower()}"

    def _forget(self, folders: list[Path]) -> None:
        """Stop serving the files under `folders` (deleted from the scratch folder)."""
        if folders:
            resolved = [folder.resolve() for folder in folders]
            with self._files_lock:
                self._files = {token: path for token, path in self._files.items()
                               if not any(path.is_relative_to(folder) for folder in resolved)}

    def readable(self, path: str | Path) -> bool:
        """True when `path` is a file under app.roots (the page may show it)."""
        return self.roots.allows(path) and Path(path).is_file()

    def published(self, token: str) -> Path:
        """The file behind a /files/ token; FiloError for an unknown token."""
        with self._files_lock:
            path = self._files.get(token.split(".")[0])
        if path is None or not self.roots.allows(path) or not path.is_file():
            raise FiloError(f"no such file {token!r}; it is only served after the page asked for it, and a "
                            "prediction's files only until newer ones fill app.scratch_mb (predict it again)")
        return path

    # ---- models and categories ----------------------------------------------------------
    def predictor(self, model: str):
        """The predictor of a model reference (registry URI, or a path under app.roots), loaded on first use;
        with an export runtime (onnx, openvino), the exports it names (`filo.registry.exporting.CategoryExports`)."""
        from filo.evaluation.evaluate import resolve_device
        from filo.registry.exporting import open_exports
        from filo.registry.loading import open_predictor
        from filo.registry.versions import REGISTRY_SCHEMES

        if not model.startswith(REGISTRY_SCHEMES):
            self.roots.require(model, "model")
        with self._lock:
            if model not in self._predictors:
                folder = self.root / "models" / hashlib.sha256(model.encode("utf-8")).hexdigest()[:12]
                folder.mkdir(parents=True, exist_ok=True)
                if self.settings.runtime != "torch":
                    self._predictors[model] = open_exports(model, download_dir=folder, runtime=self.settings.runtime)
                else:
                    self._predictors[model] = open_predictor(model, device=resolve_device(self.settings.device),
                                                             download_dir=folder)
            return self._predictors[model]

    def categories(self, model: str) -> list[dict[str, Any]]:
        """Every category the model's bundle or filo's shipped defaults describe, with its descriptions (an
        exported model: its exported categories only)."""
        from filo.descriptions.defaults import load_shipped_defaults

        shipped = load_shipped_defaults() if self.settings.runtime == "torch" else {}
        table = {**shipped, **self.predictor(model).descriptions.table}
        return [{"key": key, "descriptions": list(table[key].descriptions), "source": table[key].source}
                for key in sorted(table)]

    def category_key(self, model: str, name: str) -> str:
        """The raw key of a category name typed in the page: any valid name (a new category is predicted with
        filo's generic descriptions; an exported model: one of its categories); FiloError for a name
        `filo.vocabulary.check_category_name` refuses."""
        return self.predictor(model).category_key(name)

    # ---- predictions ----------------------------------------------------------------------
    def check_upload(self, name: str, data: bytes) -> None:
        """FiloError unless `data` is an image file within the size limits."""
        from PIL import Image, UnidentifiedImageError

        limit = self.settings.max_upload_mb
        if len(data) > limit * 1e6:
            raise FiloError(f"{name} is {len(data) / 1e6:.1f} MB, over the {limit:g} MB upload limit")
        if not data:
            raise FiloError(f"{name} is empty")
        try:
            with Image.open(io.BytesIO(data)) as image:
                width, height = image.size
                if width * height > self.settings.max_pixels:
                    raise FiloError(f"{name} is {width}x{height} pixels, over the limit of "
                                    f"{self.settings.max_pixels:,} pixels")
                image.verify()
        except (UnidentifiedImageError, OSError, SyntaxError, ValueError, Image.DecompressionBombError) as error:
            raise FiloError(f"{name} is not an image filo can read ({error})") from error

    def predict_upload(self, model: str, category: str, name: str, data: bytes) -> dict[str, Any]:
        """Predict one uploaded image file; its result with URLs of the photo and the overlay."""
        self.check_upload(name, data)
        key = self.category_key(model, category)
        with self._request_files() as folder:
            path = folder / Path(name).name
            path.write_bytes(data)
            (result,) = self._predict(model, key, [path], folder)
        result["name"] = Path(name).name
        return result

    def predict_folder(self, model: str, category: str, folder: str, page: int) -> dict[str, Any]:
        """Predict one page of the images in `folder` (recursive); the results and the paging."""
        from filo.prediction import collect_images

        root = self.roots.require(folder, "folder")
        key = self.category_key(model, category)
        if not root.is_dir():
            raise FiloError(f"{folder} is not a folder on the machine running filo app")
        images = [path for path in collect_images([root]) if self.roots.allows(path)]
        chunk = paginate(images, page, self.settings.page_size)
        with self._request_files() as scratch:
            results = self._predict(model, key, chunk.items, scratch)
        for result in results:
            result["name"] = str(Path(result["image_path"]).relative_to(root))
        return {"results": results, "page": chunk.page, "pages": chunk.pages, "total": chunk.total}

    @contextmanager
    def _request_files(self) -> Iterator[Path]:
        """A new scratch folder for one request's files: kept within app.scratch_mb once the request is done,
        deleted at once if it fails."""
        folder = self.scratch_results.new()
        try:
            yield folder
        except BaseException:
            self.scratch_results.discard(folder)
            raise
        self._forget(self.scratch_results.keep(folder))

    def _predict(self, model: str, key: str, paths: list[Path], scratch: Path) -> list[dict[str, Any]]:
        """Predict files of one category in a forward slot, overlays into the request's `scratch` folder (a
        model's first use of a category runs alone: it prepares the model's text features, shared by later
        forwards)."""
        predictor = self.predictor(model)
        with self.limit.forward():
            if (model, key) in self._ready:
                predictions = self._run(predictor, key, paths, scratch)
            else:
                with self._lock:
                    predictions = self._run(predictor, key, paths, scratch)
                    self._ready.add((model, key))
        results = []
        for prediction in predictions:
            if prediction.error is not None:
                raise FiloError(prediction.error)
            result = prediction.to_dict()
            result["photo_url"] = self.publish(prediction.image_path)
            result["overlay_url"] = self.publish(prediction.anomaly_map_path)
            results.append(result)
        return results

    def _run(self, predictor: Any, key: str, paths: list[Path], scratch: Path) -> list[Any]:
        """The predictions of `paths`, batch by batch; FiloError once the app is stopping."""
        predictions = []
        batches = predictor.predict(paths, key, scratch / "maps", progress=False)
        while not self.stopping.is_set():
            prediction = next(batches, None)
            if prediction is None:
                return predictions
            predictions.append(prediction)
        raise FiloError("filo app is stopping; this prediction was not finished")

    # ---- evaluation results -------------------------------------------------------------
    def directions(self) -> list[str]:
        """The evaluation output folders under the results folder (those holding metrics.json)."""
        root = Path(self.settings.results_dir)
        return sorted(p.name for p in root.iterdir() if (p / "metrics.json").is_file()) if root.is_dir() else []

    def result_folder(self, direction: str) -> Path:
        """The folder of one direction; FiloError for an unknown one."""
        if direction not in self.directions():
            raise FiloError(f"no evaluation results {direction!r} in {self.settings.results_dir}; "
                            f"found {self.directions()}")
        return Path(self.settings.results_dir) / direction

    def results(self, direction: str) -> dict[str, Any]:
        """Metrics table, verdict, plots and per-category score histograms of one direction."""
        import pandas as pd

        from filo.evaluation.outputs import SCORES_FILE, TABLE_CSV_FILE, VERDICT_FILE
        from filo.evaluation.verdict import read_verdict

        folder = self.result_folder(direction)
        metrics = json.loads((folder / "metrics.json").read_text(encoding="utf-8"))
        table = pd.read_csv(folder / TABLE_CSV_FILE) if (folder / TABLE_CSV_FILE).is_file() else None
        verdict = read_verdict(folder / VERDICT_FILE) if (folder / VERDICT_FILE).is_file() else None
        scores = pd.read_parquet(folder / SCORES_FILE) if (folder / SCORES_FILE).is_file() else None
        plots = {name: self.publish(folder / "plots" / f"{name}.png") for name in ("roc", "pr")
                 if (folder / "plots" / f"{name}.png").is_file()}
        histograms = []
        if scores is not None:
            for category, rows in scores.groupby("category"):
                histograms.append({"category": category, "svg": histogram_svg(
                    rows.loc[rows["label"] == 0, "score"].tolist(), rows.loc[rows["label"] == 1, "score"].tolist(),
                    verdict.threshold if verdict else None)})
        return {
            "direction": direction,
            "dataset": metrics.get("dataset"),
            "mean": metrics.get("mean", {}),
            "table": table.to_dict(orient="records") if table is not None else [],
            "columns": list(table.columns) if table is not None else [],
            "verdict": verdict.to_dict() if verdict else None,
            "calibration": verdict.calibration.describe() if verdict else None,
            "plots": plots,
            "histograms": histograms,
        }

    def result_images(self, direction: str, *, sort: str, order: str, which: str, page: int) -> dict[str, Any]:
        """One page of the direction's images, sorted by score and filtered (all / fp / fn)."""
        import pandas as pd

        from filo.evaluation.outputs import SCORES_FILE

        if which not in FILTERS:
            raise FiloError(f"filter must be one of {FILTERS}, got {which!r}")
        folder = self.result_folder(direction)
        scores = pd.read_parquet(folder / SCORES_FILE)
        if which == "fp":
            scores = scores[(scores["label"] == 0) & scores["anomalous"]]
        elif which == "fn":
            scores = scores[(scores["label"] == 1) & ~scores["anomalous"]]
        scores = scores.sort_values("score" if sort == "score" else "image_id", ascending=order == "asc")
        masks = self._masks(json.loads((folder / "metrics.json").read_text(encoding="utf-8")).get("dataset"))
        chunk = paginate(scores.to_dict(orient="records"), page, self.settings.page_size)
        rows = []
        for row in chunk.items:
            mask = masks.get(row["image_id"])
            rows.append({
                "image_id": row["image_id"], "category": row["category"], "score": float(row["score"]),
                "label": int(row["label"]), "anomalous": bool(row["anomalous"]),
                "photo_url": self.publish(row["image_path"]) if self.readable(row["image_path"]) else None,
                "mask_url": self.publish(self._visible_mask(mask)) if mask and self.readable(mask) else None,
                "image_path": row["image_path"],
            })
        return {"rows": rows, "page": chunk.page, "pages": chunk.pages, "total": chunk.total}

    def _masks(self, dataset: str | None) -> dict[str, str]:
        """image_id -> ground-truth mask file, from the dataset's manifest (found by the profile's registry)."""
        import pandas as pd

        from filo.data.registry import load_registry

        profile = Path(self.settings.profile)
        params = profile / "params.yaml"
        relative = load_registry(params if params.is_file() else None).manifest_of(dataset) if dataset else None
        manifest = profile / relative if relative else None
        if manifest is None or not manifest.is_file():
            return {}
        frame = pd.read_parquet(manifest, columns=["image_id", "mask_path"]).dropna()
        return {row.image_id: row.mask_path for row in frame.itertuples() if Path(row.mask_path).is_file()}

    def _visible_mask(self, mask: str) -> Path:
        """A black/white PNG of a ground-truth mask (VisA masks store 1 for defect pixels: invisible as is)."""
        from PIL import Image

        from filo.data.images import load_mask

        path = self.root / "masks" / f"{hashlib.sha256(str(Path(mask).resolve()).encode()).hexdigest()[:16]}.png"
        if not path.is_file():
            path.parent.mkdir(parents=True, exist_ok=True)
            Image.fromarray(load_mask(mask).astype("uint8") * 255).save(path)
        return path

    def result_overlay(self, model: str, direction: str, image_id: str) -> dict[str, Any]:
        """Predict one evaluation image with `model` for its overlay (the results store no maps)."""
        import pandas as pd

        from filo.evaluation.outputs import SCORES_FILE

        scores = pd.read_parquet(self.result_folder(direction) / SCORES_FILE)
        rows = scores[scores["image_id"] == image_id]
        if rows.empty:
            raise FiloError(f"no image {image_id!r} in the results of {direction}")
        row = rows.iloc[0]
        self.roots.require(row["image_path"], "image")
        key = self.category_key(model, row["category"])
        with self._request_files() as scratch:
            (result,) = self._predict(model, key, [Path(row["image_path"])], scratch)
        return result

    # ---- registry -----------------------------------------------------------------------
    def registry(self, name: str = "filo") -> list[dict[str, Any]]:
        """Every version of registered model `name`: aliases, gate and metric tags, calibration, lineage."""
        import mlflow
        from mlflow.exceptions import MlflowException

        from filo.tracking import tracking_uri

        uri = tracking_uri()
        client = mlflow.MlflowClient(tracking_uri=uri, registry_uri=uri)
        try:
            versions = client.search_model_versions(f"name = '{name}'")
            aliases = client.get_registered_model(name).aliases
        except MlflowException as error:
            raise FiloError(f"no registered model {name!r} in {uri}; run `dvc repro` or `filo register` "
                            f"({error.message})") from error
        by_version: dict[str, list[str]] = {}
        for alias, version in aliases.items():
            by_version.setdefault(str(version), []).append(alias)
        rows = []
        for version in sorted(versions, key=lambda v: int(v.version), reverse=True):
            tags = dict(version.tags)
            rows.append({
                "version": str(version.version),
                "aliases": sorted(by_version.get(str(version.version), [])),
                "decision": tags.get("promotion.decision"),
                "reason": tags.get("promotion.reason"),
                "gate": {k[len("gate."):]: v for k, v in tags.items() if k.startswith("gate.")},
                "metrics": {k[len("metric."):]: v for k, v in tags.items() if k.startswith("metric.")},
                "verdict": {k[len("verdict."):]: v for k, v in tags.items() if k.startswith("verdict.")},
                "lineage": {k: v for k, v in tags.items() if k.startswith(("git.", "input."))},
                "run_id": version.run_id,
            })
        return rows

    def model_choices(self) -> list[str]:
        """Model references the Predict view offers: the configured one, every alias and every version."""
        choices = [self.settings.model]
        try:
            for row in self.registry():
                choices += [f"models:/filo@{alias}" for alias in row["aliases"]]
                choices.append(f"models:/filo/{row['version']}")
        except FiloError as error:
            logger.info("no registry choices: %s", error)
        return list(dict.fromkeys(choices))


def histogram_svg(normal: list[float], anomalous: list[float], threshold: float | None, *, bins: int = 20) -> str:
    """An inline SVG histogram of normal (green) and anomalous (red) scores with the threshold as a line."""
    import numpy as np

    values = [*normal, *anomalous, *([threshold] if threshold is not None else [])]
    if not values:
        return ""
    low, high = min(values), max(values)
    high = high if high > low else low + 1e-6
    edges = np.linspace(low, high, bins + 1)
    counts = [np.histogram(group, edges)[0] for group in (normal, anomalous)]
    peak = max(1, *(int(c.max()) for c in counts))
    width, height, pad = 320, 120, 4
    bar = (width - 2 * pad) / bins
    parts = [(f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height + 16}" '
              f'class="hist" role="img">')]
    for colour, count in zip(("#2e7d32", "#c62828"), counts):
        for index, value in enumerate(count):
            if value:
                h = (height - pad) * value / peak
                parts.append(f'<rect x="{pad + index * bar:.1f}" y="{height - h:.1f}" width="{bar:.1f}" '
                             f'height="{h:.1f}" fill="{colour}" fill-opacity="0.5"/>')
    if threshold is not None:
        x = pad + (threshold - low) / (high - low) * (width - 2 * pad)
        parts.append(f'<line x1="{x:.1f}" x2="{x:.1f}" y1="0" y2="{height}" stroke="#000" stroke-dasharray="4 2"/>')
    parts.append(f'<text x="{pad}" y="{height + 12}" font-size="10">{low:.3g}</text>'
                 f'<text x="{width - pad}" y="{height + 12}" font-size="10" text-anchor="end">{high:.3g}</text>')
    parts.append("</svg>")
    return "".join(parts)
