"""The filo pipeline as a Prefect flow: the stages of `dag.pipeline_stages(params)`, in order, as `filo` runs them.

Every stage is the same command `dvc.yaml` runs, with the same params file: its command
line is parsed by the `filo` parser (the datasets, directions and targets come from the
params file's registry, as for the dvc.yaml generated from it) and its stage function called with the settings loaded
from its params section (`tasks.run_stage`). Box extraction and evaluation fan out over
shards on one Dask cluster (a local one by default, or `dask_address` /
``$FILO_DASK_ADDRESS``); the network-bound stages retry. The flow runs in the folder `root`
(default ``runs/prefect``) as DVC runs in the profile's folder: the stages see the same
relative paths (which artifacts record, e.g. a manifest's dataset root), so a flow run never
touches DVC-tracked outputs and a test checks that both runners write the same bytes.
Relative paths inside the params file (a detector checkpoint, the description cache) are
therefore relative to `root` too; a local Dask cluster's workers start there.

Run once: ``python -c "from filo.pipelines.flows import filo_pipeline; filo_pipeline()"``;
on a schedule: ``python -m filo.pipelines.serve`` (see `serve`).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from prefect import flow, get_run_logger

from filo.evaluation.stage import EVALUATE
from filo.registry.stage import REGISTER

from . import tasks
from .dag import pipeline_stages
from .fanout import run_sharded
from .runner import dask_cluster, working_directory


@flow(name="filo-pipeline")
def filo_pipeline(
    params_file: str = "params.yaml",
    root: str = "runs/prefect",
    shards: int = 2,
    workers: int = 2,
    dask_address: str | None = None,
    processes: bool = True,
    register_model: bool = True,
) -> dict[str, Any]:
    """Run the whole pipeline; returns {"metrics": mean metrics per evaluate stage, "registration": ...}.

    `params_file` is the profile's params.yaml (the demo's, or profiles/paper/params.yaml);
    relative paths in it are relative to `root`, where the flow runs. `shards`: shards per fan-out.
    `workers`/`processes`: the local Dask cluster (ignored with `dask_address` or
    ``$FILO_DASK_ADDRESS``). `register_model`: run the register stage (else "registration" is None).
    """
    params_path = Path(params_file).resolve()
    run_root = Path(root).resolve()
    run_root.mkdir(parents=True, exist_ok=True)
    here = Path()  # the stages' paths are relative, as in dvc.yaml, inside the run folder
    logger = get_run_logger()
    metrics: dict[str, dict[str, float]] = {}
    registration = None
    with working_directory(run_root), dask_cluster(workers=workers, address=dask_address,
                                                    processes=processes) as address:
        for stage in pipeline_stages(params_path):
            if stage.spec is REGISTER and not register_model:
                continue
            logger.info("stage %s: filo %s", stage.name, " ".join(stage.argv()))
            if stage.spec.fanout is not None:
                result = run_sharded(stage, here, params_path, dask_address=address, shards=shards)
                if stage.spec is EVALUATE:
                    metrics[stage.name] = result
            else:
                task = tasks.network_stage_task if stage.network else tasks.stage_task
                task.with_options(name=stage.name)(stage, here, params_path)
            if stage.spec is REGISTER:
                registration = json.loads(stage.path("out", here).read_text(encoding="utf-8"))
    for name, values in metrics.items():
        logger.info("%s: %s", name, ", ".join(f"{key} {value:.4f}" for key, value in values.items()))
    return {"metrics": metrics, "registration": registration}
