"""The register stage (params section `register`): its declaration `REGISTER` (`filo.stagespec`) and its command's
function."""

from __future__ import annotations

import json
from pathlib import Path

from filo.registry.settings import RegisterSettings
from filo.stagespec import StageSpec, path_in, path_out


def register_stage(*, model: list[Path], metrics: list[Path], verdict: list[Path], descriptions: list[Path],
                   calibration_manifest: list[Path] | None, target_manifest: list[Path] | None,
                   target_descriptions: list[Path] | None, export: list[Path] | None, out: Path | None,
                   settings: RegisterSettings) -> None:
    """Register the directions as one model version, promote it by its gate and print the result as JSON."""
    from filo.registry.bundle import direction_files
    from filo.registry.registration import register_bundle

    result = register_bundle(direction_files(model, metrics, verdict, descriptions), settings,
                             calibration_manifests=calibration_manifest or (),
                             targets=list(zip(target_manifest or (), target_descriptions or ())), out=out,
                             exports=export or ())
    print(json.dumps(result.as_dict(), indent=2))


REGISTER = StageSpec(
    ("register",), register_stage, RegisterSettings,
    (path_in("model", "trained checkpoint (repeat)", required=True, group="direction"),
     path_in("metrics", "its metrics.json from `filo evaluate` (repeat)", required=True, group="direction"),
     path_in("verdict", "its verdict.json from `filo evaluate` (repeat)", required=True, group="direction"),
     path_in("descriptions", "descriptions artifact of its evaluation dataset (repeat)", required=True,
             group="direction", dataset=True),
     path_in("calibration_manifest", "manifest of a direction's evaluation dataset, whose good test images "
             "calibrate its verdict when register.calibrate_fpr is set (repeat, in the same order)",
             group="direction", group_optional=True),
     path_in("target_manifest", "manifest of an extra target dataset (e.g. your product): every direction's "
             "threshold is calibrated on its good test images at register.calibrate_fpr and recorded (repeat)",
             group="target"),
     path_in("target_descriptions", "descriptions artifact of that target (repeat, in the same order)",
             group="target"),
     path_in("export", "a `filo export` folder of one of the checkpoints: the version carries it and serves its "
             "category with onnxruntime (repeat, one per category)", repeat=True),
     path_out("out", "also write the registration record here (e.g. a DVC out): name, gate values and input "
              "hashes; no version, run id or git state")),
    help="register evaluated models as a new MLflow model version; promote it to champion or challenger",
    description="Give one or more directions, each as a checkpoint (`filo train`), the metrics.json and "
    "verdict.json `filo evaluate` wrote for it on the other dataset, and the descriptions artifact it was "
    "evaluated with: repeat --model/--metrics/--verdict/--descriptions once per direction, in the same order. "
    "The new version gets alias `champion` when it beats the current champion on the gate (no shared direction "
    "regresses, one improves), else `challenger`; the decision and its reason are printed, logged and tagged on "
    "the version.",
)
"""`filo register`: every direction as one model version."""
