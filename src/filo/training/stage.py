"""The train stage (params section `train`): its declaration `TRAIN` (`filo.stagespec`) and its command's function."""

from __future__ import annotations

from pathlib import Path

from filo.stagespec import StageSpec, option, path_in, path_out
from filo.training.params import TrainParams


def train_stage(*, manifest: Path, descriptions: Path, eval_manifest: Path | None, out: Path, init: Path | None,
                resume: bool, settings: TrainParams) -> None:
    """Train (`filo.training.train`) and print where the checkpoint went and the last epoch's losses."""
    from filo.training import train

    result = train(manifest, descriptions, out, settings, eval_manifest_path=eval_manifest, init=init, resume=resume)
    final = {record["phase"]: record["loss"] for record in result.history}
    losses = ", ".join(f"{phase} {loss:.4f}" for phase, loss in final.items()) or "no epochs run"
    print(f"wrote {result.checkpoint} in {result.train_s:.1f}s (last epoch loss: {losses})")


TRAIN = StageSpec(
    ("train",), train_stage, TrainParams,
    (path_in("manifest", "manifest of the training dataset (its test split is used)", required=True, dataset=True),
     path_in("descriptions", "descriptions artifact covering its categories", required=True, dataset=True),
     path_in("eval_manifest", "manifest of the evaluation dataset; training refuses categories it shares",
             dataset=True),
     path_out("out", "final checkpoint path, e.g. models/filo-mvtec.pt", required=True),
     path_in("init", "start from this filo checkpoint (its config replaces the preset)"),
     option("resume", "continue from <out>.train/last.pt when present (same params and inputs only)",
            action="store_true")),
    help="train FiLo's prompt learners, heads and adapter",
    description="Phase 1 (prompt learners + linear/MMCI heads) then phase 2 (adapter) on the manifest's "
    "test split; a resumable state is written after every epoch next to --out.",
)
"""`filo train`: one training direction."""
