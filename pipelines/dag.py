"""The pipeline's DAG, defined once: which `filo` command each stage runs, on which paths, reading which params.

Both runners are derived from `pipeline_stages()`:

- `dvc.yaml` is generated from it (``python -m filo.pipelines.dag --write``), with each
  stage's code dependencies computed from the import closure of its command
  (`filo.pipelines.imports`); a test fails when the committed file is stale. The paper
  profile's ``profiles/paper/dvc.yaml`` is a link to the same file, run with that folder's
  params.yaml;
- the Prefect flow (`filo.pipelines.flows`) runs the same stages in the same order, by
  parsing the same command line with the same `filo` parser and calling the stage function
  it points at (box extraction and evaluation fanned out over shards).

A stage's settings are whole params sections (`filo.settings`); its command carries paths only.
To add a stage: write its library function and settings dataclass, its `stages/` CLI module,
append a `Stage` here, regenerate `dvc.yaml`.
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from filo.evaluation.outputs import METRICS_FILE, METRICS_PLOTS, OUTPUT_FILES

LAYOUTS = ("mvtec", "visa")
"""The two datasets, by on-disk layout (MVTec AD and VisA)."""
DIRECTIONS = (("mvtec", "visa"), ("visa", "mvtec"))
"""(training dataset, evaluation dataset) of the two zero-shot directions."""
PARAMS_FILE = "params.yaml"
CODE_ROOT = "${code_root}"
"""DVC variable (from params.yaml) locating the repository root from the profile folder: "." or "../.."."""

Role = Literal["dep", "out", "option"]


def direction_key(train_layout: str, target_layout: str) -> str:
    """Name of a direction in stage names and paths, e.g. "mvtec_to_visa"."""
    return f"{train_layout}_to_{target_layout}"


@dataclass(frozen=True)
class Arg:
    """One command-line argument of a stage: a path it reads (dep), a path it writes (out), or a plain option."""

    flag: str
    value: str
    role: Role


@dataclass(frozen=True)
class Stage:
    """One DVC stage / Prefect task: `filo <command> --params params.yaml <args>`."""

    name: str
    command: tuple[str, ...]
    """The `filo` subcommand words, e.g. ("data", "index")."""
    module: str
    """The CLI module that parses the command (the root of the stage's code dependencies)."""
    args: tuple[Arg, ...]
    sections: tuple[str, ...]
    """The params sections the stage reads (declared as DVC params)."""
    out_files: tuple[str, ...] = ()
    """For an out that is a folder the stage replaces as a whole: the files in it DVC tracks one by one."""
    metrics: tuple[str, ...] = ()
    """Files in the out folder that are DVC metrics (not cached, committed to git)."""
    plots: dict[str, tuple[str, str]] = field(default_factory=dict)
    """Files in the out folder that are DVC plots: path -> (x, y)."""
    uncached_outs: bool = False
    """Outs kept out of the DVC cache and not deleted before a run (a dataset download resumes)."""
    network: bool = False
    """The stage may reach the network (dataset download, LLM): the Prefect flow retries it."""
    after: tuple[str, ...] = ()
    """Outputs of earlier stages this one runs after without reading them (DVC deps not on its command line)."""

    def argv(self, root: Path | None = None, params_file: str | Path = PARAMS_FILE) -> list[str]:
        """The command line after `filo`, with paths under `root` when given (the Prefect flow's run folder)."""
        words = [*self.command, "--params", str(params_file)]
        for arg in self.args:
            value = str(Path(root) / arg.value) if root is not None and arg.role != "option" else arg.value
            words += [arg.flag, value]
        return words

    def paths(self, role: Role) -> list[str]:
        """The paths of one role, in argument order."""
        return [arg.value for arg in self.args if arg.role == role]

    def path(self, flag: str, root: Path) -> Path:
        """The path given to `flag` (a non-repeated one), under `root`."""
        (value,) = [arg.value for arg in self.args if arg.flag == flag]
        return root / value


PREFLIGHT = "results/preflight.json"
"""The record of a passed preflight (`filo doctor`): the stages that start the work run after it."""


def pipeline_stages() -> list[Stage]:
    """Every stage of the pipeline, in an order that runs each after its inputs."""
    from filo.doctor import DoctorSettings, checked_settings

    stages: list[Stage] = [Stage(
        "preflight", ("doctor",), "filo.stages.doctor", (Arg("--out", PREFLIGHT, "out"),),
        tuple(cls.SECTION for cls in (*checked_settings(), DoctorSettings)))]
    for layout in LAYOUTS:
        stages.append(Stage(
            f"dataset_{layout}", ("data", "prepare"), "filo.stages.data",
            (Arg("--layout", layout, "option"), Arg("--out", f"data/datasets/{layout}", "out")),
            ("data",), uncached_outs=True, network=True, after=(PREFLIGHT,)))
        stages.append(Stage(
            f"index_{layout}", ("data", "index"), "filo.stages.data",
            (Arg("--layout", layout, "option"), Arg("--root", f"data/datasets/{layout}", "dep"),
             Arg("--out", f"data/manifests/{layout}.parquet", "out")),
            ("data", "index")))
        stages.append(Stage(
            f"describe_{layout}", ("describe",), "filo.stages.describe",
            (Arg("--manifest", f"data/manifests/{layout}.parquet", "dep"),
             Arg("--out", f"data/descriptions/{layout}.json", "out")),
            ("describe",), network=True))
    stages.append(Stage("detector", ("boxes-detector",), "filo.stages.boxes",
                        (Arg("--out", "models/detector", "out"),), ("detector",), after=(PREFLIGHT,)))
    for layout in LAYOUTS:
        stages.append(Stage(
            f"boxes_{layout}", ("boxes",), "filo.stages.boxes",
            (Arg("--manifest", f"data/manifests/{layout}.parquet", "dep"),
             Arg("--descriptions", f"data/descriptions/{layout}.json", "dep"),
             Arg("--detector", "models/detector", "dep"),
             Arg("--out", f"data/boxes/{layout}.parquet", "out")),
            ("boxes",)))
    for source, target in DIRECTIONS:
        key = direction_key(source, target)
        stages.append(Stage(
            f"train_{key}", ("train",), "filo.stages.train",
            (Arg("--manifest", f"data/manifests/{source}.parquet", "dep"),
             Arg("--descriptions", f"data/descriptions/{source}.json", "dep"),
             Arg("--eval-manifest", f"data/manifests/{target}.parquet", "dep"),
             Arg("--out", f"models/filo_{key}.pt", "out")),
            ("train",)))
    for source, target in DIRECTIONS:
        key = direction_key(source, target)
        stages.append(Stage(
            f"evaluate_{key}", ("evaluate",), "filo.stages.evaluate",
            (Arg("--model", f"models/filo_{key}.pt", "dep"),
             Arg("--manifest", f"data/manifests/{target}.parquet", "dep"),
             Arg("--descriptions", f"data/descriptions/{target}.json", "dep"),
             Arg("--boxes", f"data/boxes/{target}.parquet", "dep"),
             Arg("--out-dir", f"results/{key}", "out")),
            ("evaluate",), out_files=EVALUATION_FILES, metrics=EVALUATION_METRICS, plots=EVALUATION_PLOTS))
    register_args = []
    for source, target in DIRECTIONS:
        key = direction_key(source, target)
        register_args += [Arg("--model", f"models/filo_{key}.pt", "dep"),
                          Arg("--metrics", f"results/{key}/metrics.json", "dep"),
                          Arg("--verdict", f"results/{key}/verdict.json", "dep"),
                          Arg("--descriptions", f"data/descriptions/{target}.json", "dep"),
                          Arg("--calibration-manifest", f"data/manifests/{target}.parquet", "dep")]
    stages.append(Stage("register", ("register",), "filo.stages.register",
                        (*register_args, Arg("--out", "results/registration.json", "out")), ("register",)))
    return stages


EVALUATION_METRICS = (METRICS_FILE,)
EVALUATION_PLOTS = METRICS_PLOTS
EVALUATION_FILES = tuple(sorted(OUTPUT_FILES - set(EVALUATION_METRICS) - set(EVALUATION_PLOTS)))
"""The cached files of an evaluation output folder (the metrics file and curve tables are DVC metrics/plots)."""


def code_dependencies(stage: Stage) -> list[str]:
    """The repository paths of the code `filo <stage.command>` runs: filo packages, modules and its CLI module."""
    from .imports import module_closure, repository_paths

    return repository_paths(module_closure(["filo.cli", stage.module]))


def dvc_stage(stage: Stage) -> dict:
    """The stage as a dvc.yaml entry (paths relative to the profile folder, code under ${code_root})."""
    definition: dict = {"cmd": " ".join(["filo", *stage.argv()])}
    deps = [f"{CODE_ROOT}/{path}" for path in code_dependencies(stage)]
    deps += stage.paths("dep") + list(stage.after)
    definition["deps"] = list(dict.fromkeys(deps))
    definition["params"] = list(stage.sections)
    outs: list = []
    for path in stage.paths("out"):
        if stage.out_files:
            outs += [f"{path}/{name}" for name in stage.out_files]
        elif stage.uncached_outs:
            outs.append({path: {"cache": False, "persist": True}})
        else:
            outs.append(path)
    definition["outs"] = outs
    out_dir = stage.paths("out")[0] if stage.paths("out") else ""
    if stage.metrics:
        definition["metrics"] = [{f"{out_dir}/{name}": {"cache": False}} for name in stage.metrics]
    if stage.plots:
        definition["plots"] = [{f"{out_dir}/{name}": {"x": x, "y": y, "template": "simple"}}
                               for name, (x, y) in stage.plots.items()]
    return definition


HEADER = """\
# GENERATED from pipelines/dag.py by `python -m filo.pipelines.dag --write`: edit that file, not this one.
# One DAG for both profiles: `dvc repro` here runs the demo with ./params.yaml; profiles/paper/dvc.yaml
# is a link to this file, run in that folder (`cd profiles/paper && dvc repro`) with its own params.yaml.
# Stage commands carry paths only; settings are whole params sections; code deps are each command's imports.
"""


def dvc_yaml_text() -> str:
    """The full text of dvc.yaml."""
    import yaml

    document = {"stages": {stage.name: dvc_stage(stage) for stage in pipeline_stages()}}
    return HEADER + yaml.safe_dump(document, sort_keys=False, width=120)


def main(argv: list[str] | None = None) -> int:
    """Print the generated dvc.yaml, write it (--write), or check the committed one (--check)."""
    parser = argparse.ArgumentParser(prog="python -m filo.pipelines.dag", description=main.__doc__)
    parser.add_argument("--file", type=Path, default=Path("dvc.yaml"), help="dvc.yaml to write or check")
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument("--write", action="store_true", help="write the file")
    mode.add_argument("--check", action="store_true", help="exit 1 when the file differs from the definition")
    args = parser.parse_args(argv)
    text = dvc_yaml_text()
    if args.write:
        args.file.write_text(text, encoding="utf-8")
        print(f"wrote {args.file}")
    elif args.check:
        if not args.file.is_file() or args.file.read_text(encoding="utf-8") != text:
            print(f"{args.file} is stale: run `python -m filo.pipelines.dag --write`", file=sys.stderr)
            return 1
    else:
        sys.stdout.write(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
