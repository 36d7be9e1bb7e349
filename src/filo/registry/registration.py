"""Register a model bundle in the MLflow registry with its metrics and lineage, then gate its promotion.

One call does it all: check the directions' files, compute the gate values (before anything
is registered, so a bad gate fails early), build the bundle, log it as a pyfunc model in a
run of the `filo` experiment, register it as a new version of the model, tag the version
with its lineage, mean metrics and verdict calibration (``verdict.<direction>.threshold``,
``.rule``, ``.target_fpr``, ``.n_good``), and give it alias `champion` or `challenger`.

Extra target datasets (the pipeline's `targets:`, e.g. your own product) are calibrated too:
every direction's threshold is set on each target's good images at `register.calibrate_fpr`
(`filo.registry.calibration`) and recorded with the version (tags
``target.<dataset>.<direction>.threshold``, ``.rule``, ``.target_fpr``, ``.n_good``,
``.categories``) and in the record file.

The optional record file (`filo register --out`, a DVC out) holds only what follows from
the inputs: the model name, the gate and its values, the input hashes. The version, run
id, alias and git state depend on the registry and the checkout, not on the inputs: they
are tags of the MLflow version and run (and printed), so the record has the same bytes on
every machine and rerun.
"""

from __future__ import annotations

import json
import logging
import os
import re
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from filo.errors import FiloError
from filo.evaluation.verdict import Calibration
from filo.io import atomic_write_text
from filo.registry.bundle import Direction, DirectionFiles, inspect_direction, write_bundle
from filo.registry.lineage import Lineage, collect_lineage
from filo.registry.promotion import PromotionDecision, metric_tags, promote
from filo.registry.settings import RegisterSettings

logger = logging.getLogger(__name__)

VERDICT_TAG_PREFIX = "verdict."
TARGET_TAG_PREFIX = "target."
_UNSAFE_TAG_CHARS = re.compile(r"[^A-Za-z0-9_\-. :/]")


@dataclass(frozen=True)
class RegistrationResult:
    """The new version, the run it was logged in, and its promotion decision."""

    name: str
    version: str
    run_id: str
    model_uri: str
    decision: PromotionDecision
    lineage: Lineage
    targets: tuple[TargetCalibration, ...] = ()
    """Each direction's threshold calibrated on each extra target's good images."""

    def as_dict(self) -> dict[str, Any]:
        """Plain JSON-ready form, with the version, run and git state (what `filo register` prints)."""
        return {
            "name": self.name,
            "version": self.version,
            "run_id": self.run_id,
            "model_uri": self.model_uri,
            "alias": self.decision.alias,
            "decision": self.decision.as_dict(),
            "lineage": {"git_commit": self.lineage.git_commit, "git_dirty": self.lineage.git_dirty,
                        "inputs": self.lineage.input_hashes},
            **({"targets": [target.as_dict() for target in self.targets]} if self.targets else {}),
        }

    def record(self) -> dict[str, Any]:
        """What the registration depends on and nothing else (what `filo register --out` writes)."""
        return {
            "name": self.name,
            "gate_metrics": list(self.decision.gate_metrics),
            "gate_values": dict(sorted(self.decision.values.items())),
            "inputs": dict(sorted(self.lineage.input_hashes.items())),
            **({"targets": [target.as_dict() for target in self.targets]} if self.targets else {}),
        }


@dataclass(frozen=True)
class TargetCalibration:
    """A direction's threshold on an extra target dataset, calibrated on the target's good images."""

    dataset: str
    direction: str
    categories: tuple[str, ...]
    threshold: float
    calibration: Calibration

    def as_dict(self) -> dict[str, Any]:
        """Plain JSON-ready form."""
        return {"dataset": self.dataset, "direction": self.direction, "categories": list(self.categories),
                "threshold": self.threshold, **self.calibration.as_dict()}

    def tags(self) -> dict[str, str]:
        """Version tags ``target.<dataset>.<direction>.*``."""
        prefix = f"{TARGET_TAG_PREFIX}{self.dataset}.{self.direction}."
        values = {"threshold": repr(self.threshold), "categories": ",".join(self.categories),
                  **self.calibration.as_dict()}
        return {f"{prefix}{key}": str(value) for key, value in values.items() if value is not None}


def calibrate_targets(
    directions: Sequence[Direction], targets: Sequence[tuple[str | os.PathLike, str | os.PathLike]],
    target_fpr: float | None,
) -> tuple[TargetCalibration, ...]:
    """Each direction's threshold on each target (manifest, descriptions), at `target_fpr` on its good test images.

    Scored as the registered model serves (`filo.registry.calibration.calibrate_direction`, with the
    target's descriptions). A target's other metrics are its evaluation's (`filo evaluate`).
    """
    import dataclasses

    from filo.data.manifest import read_manifest
    from filo.registry.calibration import calibrate_direction

    if targets and target_fpr is None:
        raise FiloError("extra targets are calibrated at register.calibrate_fpr, which is not set; set it (e.g. 0.05) "
                        "in the register: section")
    found = []
    for manifest, descriptions in targets:
        frame = read_manifest(manifest)
        dataset = "+".join(sorted(frame["dataset"].unique()))
        categories = tuple(sorted(frame["category"].unique()))
        for direction in directions:
            served = dataclasses.replace(direction, files=dataclasses.replace(direction.files,
                                                                              descriptions=Path(descriptions)))
            calibrated = calibrate_direction(served, manifest, target_fpr)
            found.append(TargetCalibration(dataset, direction.name, categories, calibrated.threshold,
                                           calibrated.calibration))
    return tuple(found)


def register_target_categories(
    version_uri: str, targets: Sequence[tuple[str | os.PathLike, str | os.PathLike]], target_fpr: float | None,
) -> None:
    """Give each category of each extra target its own calibration on the registered version `version_uri`.

    The same verdict `filo calibrate GOOD_DIR --category C --register` records, chosen on the
    target's good test images of that category with the target's descriptions, so `filo predict`,
    the app and the REST endpoint use the category's own threshold (tag ``calibration.<category>``).
    """
    from filo.data.manifest import read_manifest
    from filo.registry.calibration import calibrate_category
    from filo.registry.category_calibrations import register_category_verdict

    for manifest, descriptions in targets:
        frame = read_manifest(manifest)
        good = frame[(frame["split"] == "test") & (frame["label"] == 0)]
        for category, rows in good.groupby("category", sort=True):
            verdict = calibrate_category(version_uri, rows["image_path"].tolist(), str(category), target_fpr,
                                         descriptions=descriptions)
            register_category_verdict(verdict)


def _safe_tags(tags: Mapping[str, str]) -> dict[str, str]:
    """Tags with characters MLflow refuses in keys replaced by "_"."""
    return {_UNSAFE_TAG_CHARS.sub("_", key): value for key, value in tags.items()}


def calibration_tags(directions: Sequence[Direction]) -> dict[str, str]:
    """Version tags stating each direction's threshold and how it was calibrated."""
    tags = {}
    for direction in directions:
        prefix = f"{VERDICT_TAG_PREFIX}{direction.name}."
        tags[f"{prefix}threshold"] = repr(direction.threshold)
        for key, value in direction.calibration.as_dict().items():
            if value is not None:
                tags[f"{prefix}{key}"] = str(value)
    return tags


def register_bundle(
    direction_files: Sequence[DirectionFiles],
    settings: RegisterSettings | None = None,
    *,
    calibration_manifests: Sequence[str | os.PathLike] = (),
    targets: Sequence[tuple[str | os.PathLike, str | os.PathLike]] = (),
    repo: str | os.PathLike = ".",
    out: str | os.PathLike | None = None,
    exports: Sequence[str | os.PathLike] = (),
) -> RegistrationResult:
    """Register the directions as one new version of `settings.name` and promote it by its gate.

    With `settings.calibrate_fpr`, each direction's verdict threshold is first recalibrated
    on the good test images of its manifest in `calibration_manifests` (same order), scored
    as the registered model serves them (`filo.registry.calibration`). Each extra target
    (manifest, descriptions) in `targets` is calibrated for every direction the same way.
    `settings` default to `RegisterSettings()`. `repo` is the git repository of the lineage.
    `out` (optional) receives the result's `record()` as JSON, written atomically (e.g. a DVC out).
    `exports`: `filo export` folders of the directions' checkpoints; the version carries them and
    serves their categories with onnxruntime (`filo.registry.exporting`).
    """
    import mlflow

    from filo.registry.exporting import collect_exports
    from filo.registry.pyfunc import log_bundle_model
    from filo.tracking import producing_stage_run, start_run, tracking_uri

    settings = settings or RegisterSettings()
    name, experiment, gate, dvc_lock = settings.name, settings.experiment, settings.gate, settings.dvc_lock
    directions = [inspect_direction(files) for files in direction_files]
    if settings.calibrate_fpr is not None:
        from filo.registry.calibration import calibrate_direction

        if len(calibration_manifests) != len(directions):
            raise FiloError(
                f"register.calibrate_fpr needs one calibration manifest per direction (--calibration-manifest, "
                f"the direction's evaluation manifest), in the same order; got {len(calibration_manifests)} for "
                f"{len(directions)} direction(s)"
            )
        directions = [calibrate_direction(direction, manifest, settings.calibrate_fpr)
                      for direction, manifest in zip(directions, calibration_manifests)]
    values = {d.name: gate.value(d.mean_metrics, where=f"metrics file {d.files.metrics}") for d in directions}
    target_calibrations = calibrate_targets(directions, targets, settings.calibrate_fpr)
    inputs = [path for files in direction_files for path in files.as_dict().values()] + list(calibration_manifests)
    inputs += [path for target in targets for path in target]
    lineage = collect_lineage(inputs, dvc_lock=dvc_lock, repo=repo)
    # the pipeline stage run that wrote each input (training, evaluation): its params, code and datasets
    producers = {f"run.{Path(path).as_posix()}": run_id for path in inputs
                 if (run_id := producing_stage_run(path)) is not None}
    version_tags = _safe_tags({
        **lineage.as_tags(),
        **producers,
        **metric_tags({d.name: d.mean_metrics for d in directions}),
        **calibration_tags(directions),
        **{key: value for target in target_calibrations for key, value in target.tags().items()},
        "gate.metrics": ",".join(gate.metrics),
        **{f"gate.{direction}": repr(value) for direction, value in values.items()},
    })
    with tempfile.TemporaryDirectory(prefix="filo-bundle-") as scratch:
        bundle = write_bundle(directions, Path(scratch) / "bundle")
        exports_dir = collect_exports(exports, directions, Path(scratch) / "exports") if exports else None
        with start_run(experiment, run_name=f"register {name}", tags=_safe_tags(lineage.as_tags())) as run:
            mlflow.log_params({
                "directions": ",".join(sorted(bundle.directions)),
                "default_direction": bundle.default_direction,
                "gate_metrics": ",".join(gate.metrics),
                **{f"calibration.{d.name}": d.calibration.describe() for d in directions},
            })
            mlflow.log_metrics({
                **{f"{d.name}.{key}": float(value) for d in directions
                   for key, value in d.mean_metrics.items() if value is not None},
                **{f"gate.{direction}": value for direction, value in values.items()},
            })
            model_info = log_bundle_model(bundle.root, exports_dir=exports_dir)
            version = mlflow.register_model(model_info.model_uri, name, tags=version_tags)
            client = mlflow.MlflowClient(tracking_uri())
            decision = promote(client, name, str(version.version), values, gate=gate)
            mlflow.set_tags({"promotion.version": str(version.version), "promotion.decision": decision.alias,
                             "promotion.reason": decision.reason})
    register_target_categories(f"models:/{name}/{version.version}", targets, settings.calibrate_fpr)
    result = RegistrationResult(name, str(version.version), run.info.run_id, f"models:/{name}/{version.version}",
                                decision, lineage, target_calibrations)
    if out is not None:
        atomic_write_text(out, json.dumps(result.record(), indent=2) + "\n")
    return result
