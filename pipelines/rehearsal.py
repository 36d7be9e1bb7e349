"""The paper-scale rehearsal: the paper profile's own DAG, run by DVC, at the paper's model sizes on tiny data.

    python -m filo.pipelines.rehearsal                          # about 20 min on 2 CPU cores
    python -m filo.pipelines.rehearsal --json benchmarks/paper_cost.json

It makes the inputs a paper run reads (`filo.rehearsal`: ViT-L-14-336 with seeded random
weights as a local checkpoint, a random Grounding DINO Swin-T OGC with a BERT-base-shaped
text encoder, MVTec AD- and VisA-layout archives with 2 categories each), serves the
archives over HTTP on 127.0.0.1, and runs every stage of `dag.pipeline_stages(params)` with
`dvc repro --single-item` in a DVC project whose params are the paper profile's
(`rehearsal_params`: same settings, one epoch per phase of two steps). Nothing is
shrunk but the data and the epochs: 518-pixel maps, 37x37 tokens, batch sizes, the
authors' recipe. It ends with a registered model and `dvc status` clean.

Per stage it records the wall time, the peak resident memory of its largest process
(`wait4`), and the images it processed, and extrapolates the full paper run's time on
this machine (`COST_METHOD`). The JSON is the cost table `filo doctor` reads.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import pandas as pd
import yaml

from .dag import direction_key, load_profile, pipeline_stages

REPO = Path(__file__).resolve().parents[1]
PAPER_PARAMS = REPO / "profiles" / "paper" / "params.yaml"


def paper_registry():
    """The paper profile's dataset registry (the datasets the rehearsal stands in for)."""
    return load_profile(PAPER_PARAMS)[1]


def full_counts(registry) -> dict[str, dict[str, int]]:
    """Per dataset key, the real dataset's image counts ("images", "test", "good_test"; see DatasetSource)."""
    from filo.data.sources import SOURCES

    counts = {}
    for key, spec in registry.datasets.items():
        source = SOURCES.get(spec.layout)
        if source is None:
            raise RuntimeError(f"the rehearsal extrapolates to known datasets only; {key} has layout {spec.layout}")
        counts[key] = {"images": source.images, "test": source.test_images, "good_test": source.good_test_images}
    return counts

COST_METHOD = (
    "Each stage's wall time T (dvc repro --single-item, process start included) is split into a fixed part F "
    "and a part proportional to the images it processes, c per image, then F + c*N is its full-run time, with N "
    "the real dataset's images. index, boxes and evaluate: the two datasets' stages (same code, same models, "
    "unequal rehearsal data) give two points (n, T) of one line: c = (T1-T2)/(n1-n2), F = T1-c*n1 (where noise "
    "makes c or F negative, F = 0 and c = T/n, an upper bound). train: each phase's epoch time is logged per "
    "epoch (MLflow <phase>/epoch_seconds), so c per phase = epoch time / steps at batch size 1 and "
    "F = T - epoch times; full = F + N_test(source) * (epochs * c_prompt + adapter_epochs * c_adapter). "
    "register: it scores the targets' normal test images with evaluate's forward, so c = evaluate's c and "
    "F = T - c*n. preflight, describe and detector do not scale with images: full = T. The dataset stages are "
    "left out: their time is the download (4.9 + 1.8 GB) and extraction, set by the network and disk."
)


@dataclass
class StageRun:
    """One stage as the rehearsal ran it."""

    stage: str
    wall_s: float
    peak_rss_mib: float
    """Peak resident memory of the largest process of the stage (ru_maxrss of dvc and its children)."""
    images: int
    """Images the stage processed in the rehearsal (0: it does not work per image)."""


@dataclass
class StageCost:
    """A stage's measured cost and its extrapolation to the full paper run."""

    stage: str
    wall_s: float
    peak_rss_mib: float
    images: int
    seconds_per_image: float | None
    """Wall time / images (process start included); None for stages that do not work per image."""
    fixed_s: float
    marginal_s_per_image: float
    full_images: int
    seconds: float
    """Extrapolated full-run seconds on this machine (what `filo doctor` sums)."""
    method: str


MEASURED_RUN = (
    "import os, subprocess, sys\n"
    "process = subprocess.Popen(sys.argv[2:])\n"
    "_, status, usage = os.wait4(process.pid, 0)\n"
    "open(sys.argv[1], 'w').write(str(usage.ru_maxrss))\n"
    "sys.exit(os.waitstatus_to_exitcode(status))\n"
)
"""Runs a command and writes the peak RSS (KiB) of its largest process. It runs as a fresh small
interpreter because on Linux a child's ru_maxrss starts from the memory of the process that
spawned it (the high-water mark is carried through exec): measured from the rehearsal itself,
every stage would weigh at least what making the inputs once held."""


def run_measured(argv: list[str], cwd: Path, env: dict[str, str], log: Path) -> tuple[float, float]:
    """Run `argv` to completion; (wall seconds, peak RSS MiB of its largest process). Raises with the log's tail."""
    log.parent.mkdir(parents=True, exist_ok=True)
    rss_file = log.with_suffix(".maxrss")
    with log.open("wb") as handle:
        started = time.perf_counter()
        completed = subprocess.run([sys.executable, "-c", MEASURED_RUN, str(rss_file), *argv], cwd=cwd, env=env,
                                   stdout=handle, stderr=subprocess.STDOUT, check=False)
        wall = time.perf_counter() - started
    if completed.returncode != 0:
        tail = log.read_text(errors="replace")[-3000:]
        raise RuntimeError(f"{' '.join(argv)} failed with exit code {completed.returncode} (log {log}):\n{tail}")
    return wall, int(rss_file.read_text()) / 1024


def make_profile(work: Path, params: dict) -> Path:
    """A DVC project (no git) at `work/profile` running the pipeline's DAG with `params` (its dvc.yaml generated)."""
    from .dag import dvc_yaml_text

    profile = work / "profile"
    profile.mkdir(parents=True)
    subprocess.run([_tool("dvc"), "init", "--no-scm", "--quiet"], cwd=profile, check=True)
    (profile / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False), encoding="utf-8")
    (profile / "dvc.yaml").write_text(dvc_yaml_text(profile / "params.yaml"), encoding="utf-8")
    return profile


def stage_images(profile: Path, steps_per_epoch: int) -> dict[str, int]:
    """Images each stage processed, from the manifests the run wrote (train: its steps of batch size 1,
    one epoch of each phase capped at `steps_per_epoch`)."""
    registry = paper_registry()
    manifests = {key: pd.read_parquet(profile / registry.manifest(key)) for key in registry.datasets}
    test = {key: int((m["split"] == "test").sum()) for key, m in manifests.items()}
    good = {key: int(((m["split"] == "test") & (m["label"] == 0)).sum()) for key, m in manifests.items()}
    images = {}
    for key in registry.datasets:
        images[f"index_{key}"] = len(manifests[key])
        images[f"boxes_{key}"] = test[key]
    for source, target in registry.directions:
        images[f"train_{direction_key(source, target)}"] = 2 * min(steps_per_epoch, test[source])
        images[f"evaluate_{direction_key(source, target)}"] = test[target]
    images["register"] = sum(good[target] for _, target in registry.directions)
    return images


def epoch_seconds(profile: Path, run_name: str) -> dict[str, float]:
    """Phase -> seconds of its (single) epoch, from the training run's MLflow metrics."""
    from mlflow import MlflowClient

    client = MlflowClient(f"sqlite:///{profile / 'mlflow.db'}")
    experiment = client.get_experiment_by_name("filo")
    runs = client.search_runs([experiment.experiment_id], f"attributes.run_name = '{run_name}'")
    if not runs:
        raise RuntimeError(f"no MLflow training run named {run_name} in {profile / 'mlflow.db'}")
    metrics = runs[0].data.metrics
    return {phase: metrics[f"{phase}/epoch_seconds"] for phase in ("prompt", "adapter")}


def line_through(first: StageRun, second: StageRun) -> tuple[float, float, str]:
    """(fixed s, s per image, how) of the line through two runs of one stage kind on unequal data."""
    if first.images != second.images:
        per_image = (first.wall_s - second.wall_s) / (first.images - second.images)
        fixed = first.wall_s - per_image * first.images
        if per_image > 0 and fixed >= 0:
            return fixed, per_image, f"line through {first.stage} and {second.stage}"
    return 0.0, first.wall_s / first.images, "wall time / images (upper bound: the two points gave no line)"


def extrapolate(runs: dict[str, StageRun], train_epochs: dict[str, dict[str, float]], steps: dict[str, int],
                paper_train: dict) -> dict[str, StageCost]:
    """Each stage's full paper-run seconds on this machine (see COST_METHOD)."""
    costs: dict[str, StageCost] = {}

    def add(run: StageRun, fixed: float, per_image: float, full_images: int, method: str) -> None:
        costs[run.stage] = StageCost(
            run.stage, run.wall_s, run.peak_rss_mib, run.images,
            run.wall_s / run.images if run.images else None, fixed, per_image, full_images,
            fixed + per_image * full_images, method)

    def add_line(pair: list[StageRun], full_images: list[int]) -> float:
        """Two runs of one stage kind on unequal data: one cost per image, each run's own fixed part."""
        _, per_image, how = line_through(*pair)
        for run, full in zip(pair, full_images):
            add(run, max(run.wall_s - per_image * run.images, 0.0), per_image, full, how)
        return per_image

    registry = paper_registry()
    keys, directions, full = list(registry.datasets), registry.directions, full_counts(registry)
    for name in ("preflight", *(f"describe_{key}" for key in keys), "detector"):
        add(runs[name], runs[name].wall_s, 0.0, 0, "fixed: does not scale with images")
    for kind, count in (("index", "images"), ("boxes", "test")):
        add_line([runs[f"{kind}_{key}"] for key in keys], [full[key][count] for key in keys])
    evaluate_per_image = add_line([runs[f"evaluate_{direction_key(*d)}"] for d in directions],
                                  [full[target]["test"] for _, target in directions])
    for source, target in directions:
        run = runs[f"train_{direction_key(source, target)}"]
        seconds = train_epochs[run.stage]
        per_step = {phase: value / steps[run.stage] for phase, value in seconds.items()}
        per_image = paper_train["epochs"] * per_step["prompt"] + paper_train["adapter_epochs"] * per_step["adapter"]
        add(run, max(run.wall_s - sum(seconds.values()), 0.0), per_image, full[source]["test"],
            f"epoch times: prompt {per_step['prompt']:.1f} s/step, adapter {per_step['adapter']:.1f} s/step, "
            f"x {paper_train['epochs']} + {paper_train['adapter_epochs']} epochs")
    register = runs["register"]
    add(register, max(register.wall_s - evaluate_per_image * register.images, 0.0), evaluate_per_image,
        sum(full[target]["good_test"] for _, target in directions), "evaluate's cost per image")
    return costs


def registered_versions(profile: Path, registration: dict) -> dict:
    """The model the register stage wrote to the rehearsal's registry: its name, versions and aliases."""
    from mlflow import MlflowClient

    client = MlflowClient(f"sqlite:///{profile / 'mlflow.db'}")
    name = registration["name"]
    versions = client.search_model_versions(f"name = '{name}'")
    return {"name": name, "versions": sorted(int(v.version) for v in versions),
            "aliases": dict(client.get_registered_model(name).aliases)}


def machine() -> str:
    """This machine in one line: processor, cores, memory, torch."""
    import torch

    model = platform.processor() or platform.machine()
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.is_file():
        names = [line.split(":", 1)[1].strip() for line in cpuinfo.read_text().splitlines()
                 if line.startswith("model name")]
        model = names[0] if names else model
    memory = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / (1 << 30)
    device = torch.cuda.get_device_name(0) if torch.cuda.is_available() else "no GPU"
    return (f"{model}, {os.cpu_count()} cores, {memory:.0f} GiB, {device}, torch {torch.__version__} "
            f"({torch.get_num_threads()} threads)")


def format_table(costs: dict[str, StageCost]) -> str:
    """The cost table as Markdown."""
    lines = [("| stage | images | wall s | s/image | peak RSS MiB | fixed s | s/image (marginal) | full-run images "
              "| full-run h |"), "|---|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for cost in costs.values():
        per_image = f"{cost.seconds_per_image:.2f}" if cost.seconds_per_image is not None else "-"
        lines.append(f"| {cost.stage} | {cost.images} | {cost.wall_s:.1f} | {per_image} | {cost.peak_rss_mib:.0f} "
                     f"| {cost.fixed_s:.1f} | {cost.marginal_s_per_image:.2f} | {cost.full_images} "
                     f"| {cost.seconds / 3600:.2f} |")
    total = sum(cost.seconds for cost in costs.values())
    lines.append(f"| **total** | | {sum(c.wall_s for c in costs.values()):.0f} | | "
                 f"{max(c.peak_rss_mib for c in costs.values()):.0f} | | | | **{total / 3600:.1f}** |")
    return "\n".join(lines)


def rehearse(work: Path, settings=None, *, steps_per_epoch: int = 2, overrides: dict | None = None) -> dict:
    """Make the inputs, run the paper DAG stage by stage under DVC in `work`, and return the cost document.

    `settings` (`RehearsalSettings`) and `overrides` (params sections, see `rehearsal_params`)
    change what is rehearsed; the defaults are the paper's architectures.
    """
    from filo.rehearsal import RehearsalSettings, make_rehearsal_inputs, rehearsal_params, serve_folder

    settings = settings or RehearsalSettings()
    started = time.perf_counter()
    inputs = make_rehearsal_inputs(work / "inputs", settings, paper_registry())
    made_s = time.perf_counter() - started
    print(f"inputs made in {made_s:.0f} s under {work / 'inputs'}", flush=True)
    paper = yaml.safe_load(PAPER_PARAMS.read_text(encoding="utf-8"))
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"}
    env.pop("MLFLOW_TRACKING_URI", None)  # the runs land in the rehearsal's own mlflow.db
    runs: dict[str, StageRun] = {}
    with serve_folder(next(iter(inputs.archives.values())).parent) as base_url:
        params = rehearsal_params(paper, inputs, base_url, REPO, steps_per_epoch=steps_per_epoch,
                                  overrides=overrides)
        profile = make_profile(work, params)
        for stage in pipeline_stages(profile / "params.yaml"):
            wall, rss = run_measured([_tool("dvc"), "repro", "--single-item", stage.name], profile, env,
                                     work / "logs" / f"{stage.name}.log")
            runs[stage.name] = StageRun(stage.name, wall, rss, 0)
            print(f"{stage.name:<24} {wall:8.1f} s  {rss:8.0f} MiB", flush=True)
    return summarize(profile, runs, settings, steps_per_epoch=steps_per_epoch, inputs_s=made_s, env=env)


def summarize(profile: Path, runs: dict[str, StageRun], settings, *, steps_per_epoch: int, inputs_s: float,
              env: dict[str, str] | None = None) -> dict:
    """The cost document of a finished rehearsal in `profile` whose stages took `runs` (see COST_METHOD)."""
    status = subprocess.run([_tool("dvc"), "status"], cwd=profile, env=env, capture_output=True, text=True,
                            check=False)
    for name, count in stage_images(profile, steps_per_epoch).items():
        runs[name].images = count
    train_runs = [f"train_{direction_key(*d)}" for d in paper_registry().directions]
    train_epochs = {name: epoch_seconds(profile, f"filo_{name.removeprefix('train_')}") for name in train_runs}
    steps = {name: runs[name].images // 2 for name in train_runs}  # per phase
    paper = yaml.safe_load(PAPER_PARAMS.read_text(encoding="utf-8"))
    costs = extrapolate(runs, train_epochs, steps, {key: paper["train"][key] for key in ("epochs", "adapter_epochs")})
    registered = registered_versions(profile, json.loads((profile / "results" / "registration.json").read_text()))
    return {
        "measured_on": machine(),
        "method": COST_METHOD,
        "rehearsal": {"settings": asdict(settings), "steps_per_epoch": steps_per_epoch,
                      "inputs_s": round(inputs_s, 1), "stages_s": round(sum(r.wall_s for r in runs.values()), 1),
                      "registered": registered, "dvc_status": status.stdout.strip()},
        "not_extrapolated": {name: asdict(run) for name, run in runs.items() if name.startswith("dataset_")},
        "stages": {name: asdict(cost) for name, cost in costs.items()},
        "total_seconds": sum(cost.seconds for cost in costs.values()),
    }


def _tool(name: str) -> str:
    """A console script of this Python environment (dvc, filo), else the one on PATH."""
    local = Path(sys.executable).parent / name
    return str(local) if local.is_file() else (shutil.which(name) or name)


def main(argv: list[str] | None = None) -> int:
    """Run the rehearsal; print the cost table; write the JSON."""
    parser = argparse.ArgumentParser(prog="python -m filo.pipelines.rehearsal", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--work-dir", type=Path, default=Path("build/rehearsal"),
                        help="where the inputs, the DVC project and the logs go (replaced)")
    parser.add_argument("--json", type=Path, default=Path("benchmarks/paper_cost.json"),
                        help="the cost table to write (filo doctor's doctor.cost_table)")
    parser.add_argument("--steps-per-epoch", type=int, default=2, help="training steps per phase (batch size 1)")
    args = parser.parse_args(argv)
    if args.work_dir.exists():
        shutil.rmtree(args.work_dir)
    args.work_dir.mkdir(parents=True)
    document = rehearse(args.work_dir.resolve(), steps_per_epoch=args.steps_per_epoch)
    costs = {name: StageCost(**values) for name, values in document["stages"].items()}
    print(f"\nmeasured on {document['measured_on']}\n")
    print(format_table(costs))
    print(f"\nrehearsal: {document['rehearsal']['stages_s'] / 60:.1f} min of stages after "
          f"{document['rehearsal']['inputs_s']:.0f} s making inputs; registered "
          f"{document['rehearsal']['registered']}; dvc status: {document['rehearsal']['dvc_status']}")
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(document, indent=2) + "\n", encoding="utf-8")
    print(f"wrote {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
