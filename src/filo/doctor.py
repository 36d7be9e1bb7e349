"""`filo doctor`: before hours of compute, say what a profile's run still lacks and how to get it.

It is the pipeline's first stage (`preflight`): the dataset and detector stages run after
it, so a paper run with a missing input stops in seconds, with the list, not hours in.
Each check gives a `Finding` (`filo.preflight`): what was looked at, what was found, and,
when it failed, the exact way to obtain or fix the input. A failed *blocking* finding means
the run cannot succeed (the command fails); a failed non-blocking one is a warning.

The checks of a stage's inputs live with the package that owns the stage, and this module
only runs them (`INPUT_CHECKS`), adds the machine's own checks and formats the report:
- `filo.data.preflight`: each registered dataset (generated, local folder, extracted,
  archive with the right SHA-256, or reachable URL);
- `filo.descriptions.preflight`: the LLM of the describe source order (API key, endpoint);
- `filo.boxes.preflight`: the Grounding DINO config, BERT text encoder and checkpoint;
- `filo.clip.preflight`: the CLIP weights of the training preset (read as data, so that
  no model or training code is a dependency of the preflight stage);
- here: free disk space for what is still to be downloaded and extracted, plus headroom;
  a CUDA GPU and its bf16 support; the expected duration from a cost table.
Relative paths in the params file are relative to the folder the stages run in: the working
directory for the preflight stage, the params file's folder for a check typed by hand.
"""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import ClassVar

from filo.boxes.preflight import check_detector
from filo.clip.preflight import TRAIN_SECTION, check_clip
from filo.data.preflight import check_datasets
from filo.descriptions.preflight import check_llm
from filo.errors import FiloError
from filo.preflight import GIB, CheckContext, Finding

INPUT_CHECKS: tuple[Callable[[CheckContext], None], ...] = (check_datasets, check_llm, check_detector, check_clip)
"""The checks of the stages' inputs, each owned by its package, in report order."""


DEFAULT_PARAMS = Path("profiles/paper/params.yaml")
"""The params file `filo doctor` reads when typed by hand without --params: the paper profile's."""
MACHINE_CHECKS = frozenset({"disk space", "GPU", "bf16", "expected duration"})
"""Checks of the machine rather than of the profile's inputs (left out of the preflight record)."""


@dataclass(frozen=True)
class DoctorSettings:
    """How strict the preflight is (params section `doctor`); what it checks comes from the other sections."""

    SECTION: ClassVar[str] = "doctor"

    data_root: str = "data/datasets"
    """Where the dataset stages put the archives and datasets (relative paths: to the folder the stages run in)."""
    headroom_gib: float = 10.0
    """Free space needed beyond the datasets: models, boxes, results, MLflow runs, caches."""
    allow_cpu: bool = False
    """Accept a machine without a CUDA GPU (the run then takes the CPU time of the cost table)."""
    cost_table: str | None = None
    """JSON cost table for the expected duration, relative to the folder the stages run in (None: no estimate);
    format {"measured_on": str, "stages": {name: {"seconds": s} or {"seconds_per_image": s, "images": n}}}."""
    url_timeout_s: float = field(default=10.0, metadata={"affects_result": False})
    """How long to wait for a dataset or weights URL to answer."""


def checked_settings() -> tuple[type, ...]:
    """The settings sections of other stages whose inputs the preflight checks (beside its own `doctor`)."""
    from filo.boxes.stage import DetectorSettings
    from filo.data.stage import DataSettings
    from filo.descriptions.stage import DescribeSettings

    return DataSettings, DescribeSettings, DetectorSettings


CHECKED_PARAMS = (f"{TRAIN_SECTION}.model_preset", f"{TRAIN_SECTION}.model_overrides")
"""Params keys the preflight reads outside settings sections: the training preset of the CLIP check."""


def run_doctor(params: str | os.PathLike, settings: DoctorSettings,
               run_dir: str | os.PathLike | None = None) -> list[Finding]:
    """Run every check of the profile whose params file is `params`; returns the findings in report order.

    `run_dir`: the folder the stages run in, which relative paths of the params file are
    relative to (default: the params file's folder, where `dvc repro` runs them). Never
    raises for a missing input: each becomes a finding.
    """
    params = Path(params)
    if not params.is_file():
        return [Finding("params", False, f"{params} does not exist",
                        fix="run from the repository root or pass --params with the profile's params.yaml")]
    run_dir = Path(run_dir) if run_dir is not None else params.parent
    context = CheckContext(params, run_dir, run_dir / settings.data_root, settings.url_timeout_s)
    for check in INPUT_CHECKS:
        check(context)
    _check_disk(context, settings)
    _check_gpu_and_cost(context, settings)
    return context.findings


def format_report(findings: list[Finding]) -> str:
    """Human-readable report: one line per check, the fix indented under each failure, a verdict."""
    lines = []
    for finding in findings:
        status = "ok" if finding.ok else ("MISSING" if finding.blocking else "warning")
        lines.append(f"[{status}] {finding.check}: {finding.detail}")
        if not finding.ok and finding.fix:
            lines.append(f"    fix: {finding.fix}")
    blocking = sum(1 for finding in findings if not finding.ok and finding.blocking)
    lines.append(
        f"{blocking} problem(s): the run cannot succeed until they are fixed" if blocking
        else "ready: every input of the run is in place"
    )
    return "\n".join(lines)


def exit_code(findings: list[Finding]) -> int:
    """1 when a blocking check failed, else 0."""
    return int(any(not finding.ok and finding.blocking for finding in findings))


def preflight_stage(params: str | os.PathLike, settings: DoctorSettings, out: str | os.PathLike) -> list[Finding]:
    """The pipeline's first stage: run the checks, print the report, and record a passed preflight at `out`.

    Relative paths of the params file are relative to the working directory, where the
    runner (DVC in the profile's folder, the Prefect flow in its run folder) runs every stage.

    `out` (JSON) names the profile's input checks that passed; it holds no fact of the
    machine (GPU, free space), so the same profile gives the same bytes everywhere and the
    stages after it do not rerun because of the machine. A blocking problem raises
    FiloError after the report, and nothing is written.
    """
    from filo.io import atomic_write_text

    findings = run_doctor(params, settings, run_dir=Path.cwd())
    print(format_report(findings), flush=True)
    problems = [finding.check for finding in findings if not finding.ok and finding.blocking]
    if problems:
        raise FiloError(f"preflight failed ({', '.join(problems)}): the run cannot succeed until the problems "
                        f"listed above are fixed; nothing was written to {out}")
    record = {"ready": True,
              "checked": [finding.check for finding in findings if finding.check not in MACHINE_CHECKS]}
    atomic_write_text(out, json.dumps(record, indent=2) + "\n")
    return findings


def _check_disk(context: CheckContext, settings: DoctorSettings) -> None:
    """Free space where the datasets go, against what the checks found still to download and extract."""
    where = context.data_root.resolve()
    while not where.exists():
        where = where.parent
    free = shutil.disk_usage(where).free
    needed = context.bytes_needed + int(settings.headroom_gib * GIB)
    detail = f"{free / GIB:.1f} GiB free at {where}, about {needed / GIB:.1f} GiB needed"
    context.add("disk space", free >= needed, detail,
                fix=f"free {(needed - free) / GIB:.1f} GiB or point doctor.data_root and the profile folder "
                    "at a larger disk")


def cuda_status() -> tuple[str, bool] | None:
    """(GPU name, bf16 supported) of CUDA device 0, or None without a usable CUDA GPU."""
    import torch

    if not torch.cuda.is_available():
        return None
    return torch.cuda.get_device_name(0), bool(torch.cuda.is_bf16_supported())


def _check_gpu_and_cost(context: CheckContext, settings: DoctorSettings) -> None:
    """A CUDA GPU (or CPU accepted) and bf16; the expected duration from the cost table when one is set."""
    gpu = cuda_status()
    if gpu is None:
        fix = ("accepted (doctor.allow_cpu): expect the CPU time below" if settings.allow_cpu
               else "run on a machine with a CUDA GPU, or set doctor.allow_cpu: true (or pass --allow-cpu) to accept "
               "the CPU time below")
        context.add("GPU", False, "no CUDA GPU: training and evaluation run on the CPU", fix=fix,
                    blocking=not settings.allow_cpu)
    else:
        name, bf16 = gpu
        context.add("GPU", True, f"{name}")
        context.add("bf16", bf16, "supported: autocast runs in bf16" if bf16 else "not supported",
                    fix="expect fp32 speed (about 2x slower) or use an Ampere or newer GPU", blocking=False)
    if settings.cost_table is None:
        return
    table = context.path(settings.cost_table)
    if not table.is_file():
        context.add("expected duration", False, f"no cost table at {table}",
                    fix="run the paper-scale rehearsal (python benchmarks/rehearsal.py) to measure it",
                    blocking=False)
        return
    try:
        costs = json.loads(table.read_text())
        seconds = sum(stage_seconds(stage) for stage in costs["stages"].values())
        measured_on = costs["measured_on"]
    except (ValueError, KeyError, TypeError) as error:
        context.add("expected duration", False, f"cost table {table} is not readable ({error!r})",
                    fix="regenerate it with the rehearsal", blocking=False)
        return
    context.add("expected duration", True, f"{seconds / 3600:.1f} h as measured on {measured_on} ({table})")


def stage_seconds(cost: dict) -> float:
    """A cost-table stage's expected seconds: its "seconds", else "seconds_per_image" x "images"."""
    if "seconds" in cost:
        return float(cost["seconds"])
    return float(cost["seconds_per_image"]) * float(cost["images"])
