"""The pipeline's DAG, defined once: which `filo` command each stage runs, on which paths, reading which params.

The stages come from the profile's dataset registry (`filo.data.registry`: sections
`datasets:` and `targets:` of its params.yaml): per dataset a dataset stage (none for a
local folder, indexed in place), index, describe and (where some model is evaluated on it)
boxes; per training direction a train and an evaluate stage, and one evaluate stage per
direction and target; one register stage (where there is a direction). Adding a dataset is an entry in params.yaml.

Both runners are derived from `pipeline_stages(params_file)`:

- each profile's `dvc.yaml` is generated from it (``python -m filo.pipelines.dag --write``
  writes every profile's: the demo's here, ``profiles/*/dvc.yaml``), with each stage's code
  dependencies computed from the import closure of its command (`filo.pipelines.imports`)
  and its DVC params the keys of its settings sections that the params file sets and that
  change results (`filo.settings.result_keys`: a field marked ``affects_result: False``,
  such as ``train.num_workers``, reruns nothing); a test fails when a committed file is stale;
- the Prefect flow (`filo.pipelines.flows`) runs the same stages in the same order, by
  parsing the same command line with the parser the stage's declaration derives and calling
  the stage function it points at (the stages that declare a `fanout` input, box extraction
  and evaluation, fanned out over shards).

Each stage here is a declared stage (`filo.stagespec.StageSpec`, next to its library function:
`filo.evaluation.stage.EVALUATE`, ...) with values bound to its declared names
(``EVALUATE.bind(model=..., manifest=..., out_dir=...)``): an undeclared name or a missing
required path is an error. The command line, the DVC deps and outs, the MLflow record and the
parser all come from that one declaration; a stage's settings are params sections
(`filo.settings`), so its command carries paths only. To add a stage: write its function and
its declaration (with a one-line `stages/<name>.py` registering it with `filo`), append a
`Stage` binding its paths here, regenerate `dvc.yaml`.
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import dataclass, field
from pathlib import Path

from filo.data.registry import DATASETS_SECTION, DatasetRegistry, registry_from_params
from filo.evaluation.outputs import METRICS_FILE, METRICS_PLOTS, OUTPUT_FILES
from filo.stagespec import Binding, StageSpec

PARAMS_FILE = "params.yaml"
CODE_ROOT = "${code_root}"
"""DVC variable (from params.yaml) locating the repository root from the profile folder: "." or "../.."."""
REPO = Path(__file__).resolve().parents[1]
PROFILES = (".", "profiles/paper", "profiles/custom")
"""The profile folders of the repository (each: a params.yaml and the dvc.yaml generated from it)."""

def direction_key(train: str, target: str) -> str:
    """Name of a direction (dataset keys) in stage names and paths, e.g. "mvtec_to_visa"."""
    return f"{train}_to_{target}"


def target_key(direction: str, target: str) -> str:
    """Name of a direction's zero-shot evaluation on an extra target, e.g. "mvtec_to_visa_on_product"."""
    return f"{direction}_on_{target}"


@dataclass(frozen=True)
class Stage:
    """One DVC stage / Prefect task: a declared stage (`filo.stagespec`) with its paths bound, run as
    `filo <command> --params params.yaml <args>`."""

    name: str
    binding: Binding
    """The stage's declaration and the values bound to its declared names (`StageSpec.bind`)."""
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
    """Outputs of earlier stages this one runs after without reading them, and files its params name (e.g. a
    user descriptions file): DVC deps not on its command line."""
    params: tuple[str, ...] = ()
    """Whole params keys the stage reads besides its settings sections (its dataset's registry entry)."""
    settings: tuple[type, ...] | None = None
    """The settings classes whose result-changing keys DVC tracks; None: those its declaration reads."""

    @property
    def spec(self) -> StageSpec:
        """The stage's declaration."""
        return self.binding.spec

    @property
    def command(self) -> tuple[str, ...]:
        """The `filo` subcommand words, e.g. ("data", "index")."""
        return self.spec.command

    @property
    def module(self) -> str:
        """The module declaring the stage's function (with `filo.cli`, the root of its code dependencies)."""
        return self.spec.module

    @property
    def tracked_settings(self) -> tuple[type, ...]:
        """The settings classes (params sections) the stage reads; their result-changing keys are its DVC params."""
        return self.spec.tracked_settings() if self.settings is None else self.settings

    @property
    def sections(self) -> tuple[str, ...]:
        """The params sections the stage reads."""
        return tuple(cls.SECTION for cls in self.tracked_settings)

    def argv(self, root: Path | None = None, params_file: str | Path = PARAMS_FILE) -> list[str]:
        """The command line after `filo`, with paths under `root` when given (the Prefect flow's run folder)."""
        return self.binding.argv(root, params_file)

    def path(self, name: str, root: Path) -> Path:
        """The path bound to the declared, non-repeated `name`, under `root`."""
        return self.binding.path(name, root)


PREFLIGHT = "results/preflight.json"
"""The record of a passed preflight (`filo doctor`): the stages that start the work run after it."""


def load_profile(params_file: str | Path = PARAMS_FILE) -> tuple[dict, DatasetRegistry]:
    """The params document of a profile and its dataset registry."""
    from filo.settings import read_params

    document = read_params(params_file)
    return document, registry_from_params(document, source=str(params_file))


def pipeline_stages(params_file: str | Path = PARAMS_FILE) -> list[Stage]:
    """Every stage of the profile whose params file is `params_file`, in an order that runs each after its inputs."""
    from filo.stages.doctor import PREFLIGHT as DOCTOR

    from filo.boxes.stage import BOXES, DETECTOR
    from filo.data.stage import INDEX, PREPARE, DataSettings
    from filo.descriptions.stage import DESCRIBE
    from filo.doctor import CHECKED_PARAMS
    from filo.evaluation.stage import EVALUATE
    from filo.registry.stage import REGISTER
    from filo.training.stage import TRAIN

    document, registry = load_profile(params_file)
    user_file = (document.get("describe") or {}).get("user_file")  # a file the describe stages read: a DVC dep
    entry = {key: (f"{DATASETS_SECTION}.{key}",) for key in registry.datasets}
    stages: list[Stage] = [Stage("preflight", DOCTOR.bind(out=PREFLIGHT), params=(DATASETS_SECTION, *CHECKED_PARAMS))]
    for key, spec in registry.datasets.items():
        root = registry.dataset_dir(key)
        if spec.source != "local":
            stages.append(Stage(
                f"dataset_{key}", PREPARE.bind(dataset=key, out=root),
                settings=(DataSettings,) if spec.source == "synthetic" else (), uncached_outs=True,
                network=spec.source == "download", after=(PREFLIGHT,), params=entry[key]))
        stages.append(Stage(f"index_{key}", INDEX.bind(dataset=key, root=root, out=registry.manifest(key)),
                            params=entry[key]))
        stages.append(Stage(
            f"describe_{key}", DESCRIBE.bind(manifest=registry.manifest(key), out=registry.descriptions(key)),
            network=True, after=(str(user_file),) if user_file else ()))
    stages.append(Stage("detector", DETECTOR.bind(out="models/detector"), after=(PREFLIGHT,)))
    for key in registry.evaluated:
        stages.append(Stage(f"boxes_{key}", BOXES.bind(
            manifest=registry.manifest(key), descriptions=registry.descriptions(key), detector="models/detector",
            out=registry.boxes(key))))
    for source, target in registry.directions:
        key = direction_key(source, target)
        stages.append(Stage(f"train_{key}", TRAIN.bind(
            manifest=registry.manifest(source), descriptions=registry.descriptions(source),
            eval_manifest=registry.manifest(target), out=f"models/filo_{key}.pt")))
    evaluations = [(direction_key(source, target), direction_key(source, target), target)
                   for source, target in registry.directions]
    evaluations += [(target_key(direction_key(*direction), target), direction_key(*direction), target)
                    for direction in registry.directions for target in registry.targets]
    for name, direction, target in evaluations:
        stages.append(Stage(
            f"evaluate_{name}", EVALUATE.bind(
                model=f"models/filo_{direction}.pt", manifest=registry.manifest(target),
                descriptions=registry.descriptions(target), boxes=registry.boxes(target), out_dir=f"results/{name}"),
            out_files=EVALUATION_FILES, metrics=EVALUATION_METRICS, plots=EVALUATION_PLOTS))
    if not registry.directions:  # a single dataset trains nothing: there is no model to register
        return stages
    keys = [direction_key(source, target) for source, target in registry.directions]
    targets = [target for _, target in registry.directions]
    stages.append(Stage("register", REGISTER.bind(
        model=[f"models/filo_{key}.pt" for key in keys], metrics=[f"results/{key}/metrics.json" for key in keys],
        verdict=[f"results/{key}/verdict.json" for key in keys],
        descriptions=[registry.descriptions(target) for target in targets],
        calibration_manifest=[registry.manifest(target) for target in targets],
        target_manifest=[registry.manifest(target) for target in registry.targets],
        target_descriptions=[registry.descriptions(target) for target in registry.targets],
        out="results/registration.json")))
    return stages


EVALUATION_METRICS = (METRICS_FILE,)
EVALUATION_PLOTS = METRICS_PLOTS
EVALUATION_FILES = tuple(sorted(OUTPUT_FILES - set(EVALUATION_METRICS) - set(EVALUATION_PLOTS)))
"""The cached files of an evaluation output folder (the metrics file and curve tables are DVC metrics/plots)."""


def code_dependencies(stage: Stage) -> list[str]:
    """The repository paths of the code `filo <stage.command>` runs: filo packages, modules and its CLI module."""
    from .imports import module_closure, repository_paths

    return repository_paths(module_closure(["filo.cli", stage.module]))


def tracked_params(stage: Stage, document: dict) -> list[str]:
    """The params keys DVC tracks for `stage`: those of its sections the params file sets and that change results."""
    from filo.settings import result_keys

    keys = [key for key in stage.params if _has_key(document, key)]
    for cls in stage.tracked_settings:
        section = document.get(cls.SECTION)
        if isinstance(section, dict):
            keys += [f"{cls.SECTION}.{key}" for key in result_keys(cls, section)]
    return keys


def _has_key(document: dict, dotted: str) -> bool:
    node = document
    for part in dotted.split("."):
        if not isinstance(node, dict) or part not in node:
            return False
        node = node[part]
    return True


def dvc_stage(stage: Stage, document: dict) -> dict:
    """The stage as a dvc.yaml entry (paths relative to the profile folder, code under ${code_root})."""
    definition: dict = {"cmd": " ".join(["filo", *stage.argv()])}
    deps = [f"{CODE_ROOT}/{path}" for path in code_dependencies(stage)]
    deps += stage.binding.paths("in") + list(stage.after)
    definition["deps"] = list(dict.fromkeys(deps))
    params = tracked_params(stage, document)
    if params:
        definition["params"] = params
    outs: list = []
    for path in stage.binding.paths("out"):
        if stage.out_files:
            outs += [f"{path}/{name}" for name in stage.out_files]
        elif stage.uncached_outs:
            outs.append({path: {"cache": False, "persist": True}})
        else:
            outs.append(path)
    definition["outs"] = outs
    out_dir = stage.binding.paths("out")[0] if stage.binding.paths("out") else ""
    if stage.metrics:
        definition["metrics"] = [{f"{out_dir}/{name}": {"cache": False}} for name in stage.metrics]
    if stage.plots:
        definition["plots"] = [{f"{out_dir}/{name}": {"x": x, "y": y, "template": "simple"}}
                               for name, (x, y) in stage.plots.items()]
    return definition


HEADER = """\
# GENERATED from pipelines/dag.py and this folder's params.yaml by `python -m filo.pipelines.dag --write`:
# edit those, not this file. Every profile (the demo here, profiles/*) runs the same DAG definition on the
# datasets of its params (`datasets:`, `targets:`); `dvc repro` in the profile's folder runs it.
# Stage commands carry paths only; params are the result-changing keys the params file sets (a key marked
# affects_result: False, e.g. train.num_workers, reruns nothing); code deps are each command's imports.
"""


def dvc_yaml_text(params_file: str | Path = PARAMS_FILE) -> str:
    """The full text of the dvc.yaml of the profile whose params file is `params_file`."""
    import yaml

    document, _ = load_profile(params_file)
    stages = {stage.name: dvc_stage(stage, document) for stage in pipeline_stages(params_file)}
    return HEADER + yaml.safe_dump({"stages": stages}, sort_keys=False, width=120)


def main(argv: list[str] | None = None) -> int:
    """Print one profile's generated dvc.yaml (--params), write every profile's (--write), or check them (--check)."""
    parser = argparse.ArgumentParser(prog="python -m filo.pipelines.dag", description=main.__doc__)
    parser.add_argument("--params", type=Path, help="print the dvc.yaml of the profile with this params file")
    parser.add_argument("--root", type=Path, default=REPO, help="repository root holding the profiles")
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument("--write", action="store_true", help="write every profile's dvc.yaml")
    mode.add_argument("--check", action="store_true", help="exit 1 when a profile's dvc.yaml differs from its definition")
    args = parser.parse_args(argv)
    if args.params is not None or not (args.write or args.check):
        sys.stdout.write(dvc_yaml_text(args.params or args.root / PARAMS_FILE))
        return 0
    stale = []
    for profile in PROFILES:
        folder = args.root / profile
        text = dvc_yaml_text(folder / PARAMS_FILE)
        target = folder / "dvc.yaml"
        if args.write:
            if target.is_symlink():
                target.unlink()
            target.write_text(text, encoding="utf-8")
            print(f"wrote {target}")
        elif not target.is_file() or target.read_text(encoding="utf-8") != text:
            stale.append(str(target))
    if stale:
        print(f"stale: {', '.join(stale)}: run `python -m filo.pipelines.dag --write`", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
