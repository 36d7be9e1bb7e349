"""The evaluate stage (params section `evaluate`): its declaration `EVALUATE` (`filo.stagespec`) and its command's
function."""

from __future__ import annotations

from pathlib import Path

from filo.evaluation.settings import EvaluationSettings
from filo.stagespec import StageSpec, path_in, path_out


def evaluate_stage(*, model: Path, manifest: Path, descriptions: Path, boxes: Path | None, out_dir: Path,
                   settings: EvaluationSettings) -> None:
    """Evaluate (`filo.evaluation.evaluate.evaluate`) and print where the results went, the means and the verdict."""
    from filo.evaluation.evaluate import evaluate

    result = evaluate(model, manifest, descriptions, out_dir, boxes_path=boxes, settings=settings)
    print(f"wrote evaluation to {result.out_dir}")
    for key, value in result.metrics.mean.items():
        print(f"  mean {key}: {100 * value:.1f}")
    confusion = result.verdict.confusion
    print(f"  verdict ({result.verdict.rule}): anomalous when score >= {result.verdict.threshold:.6g}; "
          f"tp {confusion['tp']} fp {confusion['fp']} tn {confusion['tn']} fn {confusion['fn']}")


EVALUATE = StageSpec(
    ("evaluate",), evaluate_stage, EvaluationSettings,
    (path_in("model", "FiLo checkpoint (.pt)", required=True),
     path_in("manifest", "manifest Parquet of the target dataset", required=True, dataset=True),
     path_in("descriptions", "descriptions JSON (`filo describe`)", required=True, dataset=True),
     path_in("boxes", "boxes Parquet (`filo boxes`); without it positions are averaged, no suppression",
             dataset=True),
     path_out("out_dir", "output folder (replaced when complete)", required=True)),
    help="metrics, verdict threshold, reports and plots of a model on a dataset's test split",
    description="Score every test image of --manifest with --model and write metrics (per category and "
    "their mean), a verdict threshold, tables and plots to --out-dir. Refuses a model trained on any of "
    "the manifest's categories (zero-shot protocol) unless --allow-overlap.",
    fanout="manifest",
)
"""`filo evaluate`: one direction on one target; a fanned-out run scores its manifest's test images in shards."""
