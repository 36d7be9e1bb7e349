"""The filo pipeline as a Prefect flow: data → index → describe → boxes → train → evaluate (both directions) → register.

Every step is a task wrapping the same stage function as the CLI and `dvc.yaml`; box
extraction and evaluation fan out over shards on one Dask cluster (a local one by
default, or `dask_address` / ``$FILO_DASK_ADDRESS``). Artifacts go under `root`
(default ``runs/prefect``), laid out like the DVC pipeline's, so a flow run never
touches DVC-tracked outputs.

Run once: ``python -c "from filo.pipelines.flows import filo_pipeline; filo_pipeline()"``;
on a schedule: ``python -m filo.pipelines.serve`` (see `serve`).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from prefect import flow, get_run_logger

from . import tasks
from .fanout import run_sharded_boxes, run_sharded_evaluation
from .params import PipelineParams
from .runner import dask_cluster

if TYPE_CHECKING:
    from filo.registry.bundle import DirectionFiles

LAYOUTS = ("mvtec", "visa")
"""The on-disk layouts of the two datasets (MVTec AD and VisA)."""
DIRECTIONS = (("mvtec", "visa"), ("visa", "mvtec"))
"""(train layout, evaluation layout) of the two zero-shot directions."""


def dataset_name(layout_name: str, source: str) -> str:
    """The dataset name in manifests: "synth_mvtec" for the generated MVTec-layout set, "mvtec" for the real one."""
    return f"synth_{layout_name}" if source == "synthetic" else layout_name


def direction_key(train_layout: str, target_layout: str) -> str:
    """Name of a direction in artifact paths and results, e.g. "mvtec_to_visa" (as in dvc.yaml)."""
    return f"{train_layout}_to_{target_layout}"


@dataclass(frozen=True)
class DatasetFiles:
    """The artifacts of one dataset that training and evaluation read."""

    manifest: Path
    descriptions: Path
    boxes: Path


@dataclass(frozen=True)
class PipelineLayout:
    """Where a pipeline run puts each artifact (the paths of dvc.yaml, under `root`)."""

    root: Path

    def synthetic_dir(self, layout_name: str) -> Path:
        """Folder of a generated dataset."""
        return self.root / "data" / "synth" / layout_name

    @property
    def downloads(self) -> Path:
        """Folder the real datasets are downloaded and extracted into."""
        return self.root / "data" / "raw"

    def dataset(self, name: str) -> DatasetFiles:
        """Manifest, descriptions and boxes paths of a dataset."""
        data = self.root / "data"
        return DatasetFiles(data / "manifests" / f"{name}.parquet", data / "descriptions" / f"{name}.json",
                            data / "boxes" / f"{name}.parquet")

    @property
    def tiny_detector(self) -> Path:
        """Folder of the tiny demo Grounding DINO."""
        return self.root / "models" / "tiny_grounding_dino"

    def trained_model(self, direction: str) -> Path:
        """The FiLo checkpoint of a direction (trained on its first dataset)."""
        return self.root / "models" / f"filo_{direction}.pt"

    def evaluation(self, direction: str) -> Path:
        """Evaluation output folder of a direction (on its second dataset)."""
        return self.root / "results" / direction

    @property
    def registration(self) -> Path:
        """JSON record of the model version the run registered and its promotion decision."""
        return self.root / "results" / "registration.json"


def _prepare_dataset(
    layout_name: str, source: str, layout: PipelineLayout, params: PipelineParams
) -> DatasetFiles:
    """Make or download a dataset, index it and describe its categories."""
    name = dataset_name(layout_name, source)
    if source == "synthetic":
        dataset_dir = tasks.synthesize_task(
            layout_name, layout.synthetic_dir(layout_name), overwrite=True, **params.synth_options()
        )
    else:
        dataset_dir = tasks.download_task(name, layout.downloads)
    files = layout.dataset(name)
    tasks.index_task(dataset_dir, files.manifest, dataset=name)
    tasks.describe_task(files.manifest, files.descriptions, **params.describe_options())
    return files


def _detector_files(layout: PipelineLayout, params: PipelineParams, source: str) -> tuple[Path, Path]:
    """(config, checkpoint) of the Grounding DINO named in the params, else of a freshly made tiny one."""
    from filo.boxes.tiny import CHECKPOINT_FILE, CONFIG_FILE

    files = params.detector_files()
    if files is not None:
        return files
    if source == "download":
        get_run_logger().warning(
            "no boxes.config/boxes.checkpoint in %s: using the tiny random detector, whose boxes are "
            "meaningless; set them to a Grounding DINO SwinT config and checkpoint for the paper profile",
            params.path,
        )
    directory = tasks.make_detector_task(layout.tiny_detector, seed=0)
    return directory / CONFIG_FILE, directory / CHECKPOINT_FILE


def _registration_files(layout: PipelineLayout, datasets: dict[str, DatasetFiles]) -> list[DirectionFiles]:
    """The `filo register` inputs of each direction: checkpoint, its evaluation's metrics and verdict, descriptions."""
    from filo.evaluation.outputs import METRICS_FILE, VERDICT_FILE
    from filo.registry.bundle import DirectionFiles

    files = []
    for train_layout, target_layout in DIRECTIONS:
        direction = direction_key(train_layout, target_layout)
        evaluation = layout.evaluation(direction)
        files.append(DirectionFiles(layout.trained_model(direction), evaluation / METRICS_FILE,
                                    evaluation / VERDICT_FILE, datasets[target_layout].descriptions))
    return files


@flow(name="filo-pipeline")
def filo_pipeline(
    params_file: str = "params.yaml",
    root: str = "runs/prefect",
    source: Literal["synthetic", "download"] = "synthetic",
    shards: int = 2,
    workers: int = 2,
    dask_address: str | None = None,
    processes: bool = True,
    register_model: bool = True,
) -> dict[str, Any]:
    """Run the whole pipeline; returns {"metrics": mean metrics per direction, "registration": ...}.

    `source`: "synthetic" (the demo profile's generated datasets, offline) or "download"
    (MVTec AD and VisA). `shards`: shards per fan-out. `workers`/`processes`: the local
    Dask cluster (ignored with `dask_address` or ``$FILO_DASK_ADDRESS``). `register_model`:
    register both directions as one MLflow model version and gate its promotion
    (`filo register`); "registration" is then its result, else None. Directions are keyed
    like dvc.yaml's ("mvtec_to_visa", "visa_to_mvtec").
    """
    params = PipelineParams.load(params_file)
    layout = PipelineLayout(Path(root).resolve())
    datasets = {layout_name: _prepare_dataset(layout_name, source, layout, params) for layout_name in LAYOUTS}
    detector_config, detector_checkpoint = _detector_files(layout, params, source)
    boxes_section = params.sections["boxes"]
    metrics: dict[str, dict[str, float]] = {}
    with dask_cluster(workers=workers, address=dask_address, processes=processes) as address:
        for files in datasets.values():
            run_sharded_boxes(
                dask_address=address,
                manifest=files.manifest,
                descriptions=files.descriptions,
                out=files.boxes,
                detector_config=detector_config,
                detector_checkpoint=detector_checkpoint,
                rules=params.box_rules(),
                batch_size=boxes_section.get("batch_size", 4),
                device=boxes_section.get("device"),
                shards=shards,
            )
        for train_layout, target_layout in DIRECTIONS:
            direction = direction_key(train_layout, target_layout)
            train_files, target_files = datasets[train_layout], datasets[target_layout]
            checkpoint = tasks.train_task(
                train_files.manifest,
                train_files.descriptions,
                layout.trained_model(direction),
                params_file=params.path,
                eval_manifest=target_files.manifest,
            )
            metrics[direction] = run_sharded_evaluation(
                dask_address=address,
                model=checkpoint,
                manifest=target_files.manifest,
                descriptions=target_files.descriptions,
                boxes=target_files.boxes,
                out_dir=layout.evaluation(direction),
                options=params.sections["evaluate"],
                shards=shards,
            )
    logger = get_run_logger()
    for direction, values in metrics.items():
        logger.info("%s: %s", direction, ", ".join(f"{key} {value:.4f}" for key, value in values.items()))
    registration = None
    if register_model:
        registration = tasks.register_task(
            _registration_files(layout, datasets), out=layout.registration, **params.register_options()
        ).as_dict()
        logger.info("registered %s version %s as %s", registration["name"], registration["version"],
                    registration["alias"])
    return {"metrics": metrics, "registration": registration}
