"""Everything `filo evaluate` writes into its output directory, and the file names it uses.

Layout of the directory::

    metrics.json          flat summary: dataset, mean metrics, verdict threshold, image counts (dvc metrics)
    metrics_detail.json   mean + per-category metrics, counts, undefined values, run information
    verdict.json          image threshold + confusion matrix (read by `filo predict`)
    scores.parquet        one row per test image: image_id, category, defect_type, label, has_mask,
                          score, anomalous (the verdict), position, top_descriptions,
                          top_similarities, image_path
    metrics_table.csv     per-category table, exact values
    metrics_table.md      the same table in the paper's style (percent)
    plots/roc.csv, plots/pr.csv               image-level curve points per category (dvc plots)
    plots/roc.png, plots/pr.png               the same curves as figures
    plots/score_histograms.png                normal vs anomalous scores per category
    plots/gallery.png                         best and worst cases (when gallery_size > 0)
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pyarrow as pa
import pyarrow.parquet as pq

from filo.evaluation.aggregate import EvaluationMetrics
from filo.evaluation.curves import category_curves
from filo.evaluation.gallery import write_gallery
from filo.evaluation.plots import plot_curves, plot_score_histograms
from filo.evaluation.report import metrics_document, metrics_summary, write_metrics_json, write_tables
from filo.evaluation.verdict import Verdict, write_verdict

if TYPE_CHECKING:
    import pandas as pd

    from filo.boxes.artifact import ImageBoxes
    from filo.evaluation.scoring import ScoredImages

METRICS_FILE = "metrics.json"
METRICS_DETAIL_FILE = "metrics_detail.json"
VERDICT_FILE = "verdict.json"
SCORES_FILE = "scores.parquet"
TABLE_CSV_FILE = "metrics_table.csv"
TABLE_MARKDOWN_FILE = "metrics_table.md"
PLOTS_DIR = "plots"
OUTPUT_FILES = frozenset({
    METRICS_FILE, METRICS_DETAIL_FILE, VERDICT_FILE, SCORES_FILE, TABLE_CSV_FILE, TABLE_MARKDOWN_FILE,
    *(f"{PLOTS_DIR}/{name}" for name in ("roc.csv", "pr.csv", "roc.png", "pr.png", "score_histograms.png",
                                         "gallery.png")),
})
"""Every file `write_evaluation_outputs` may write; other files found in an output folder are not filo's and are kept.

(`plots/gallery.png` only when the gallery is on.) The pipeline's DAG tracks them one by one."""
METRICS_PLOTS = {f"{PLOTS_DIR}/roc.csv": ("fpr", "tpr"), f"{PLOTS_DIR}/pr.csv": ("recall", "precision")}
"""The curve tables `dvc plots` draws: file -> (x column, y column)."""


def scores_frame(scored: ScoredImages, manifest: pd.DataFrame, verdict: Verdict) -> pd.DataFrame:
    """The per-image table with each image's path and its verdict (`anomalous`) added."""
    paths = manifest.set_index("image_id")["image_path"]
    return scored.table.assign(
        image_path=scored.table["image_id"].map(paths),
        anomalous=verdict.is_anomalous(scored.table["score"].to_numpy()),
    )


def _write_scores(frame: pd.DataFrame, path: Path) -> None:
    """Per-image scores as Parquet, with stable types even when a column is all null."""
    schema = pa.schema([
        ("image_id", pa.string()),
        ("category", pa.string()),
        ("defect_type", pa.string()),
        ("label", pa.int8()),
        ("has_mask", pa.bool_()),
        ("score", pa.float64()),
        ("anomalous", pa.bool_()),
        ("position", pa.string()),
        ("top_descriptions", pa.list_(pa.string())),
        ("top_similarities", pa.list_(pa.float64())),
        ("image_path", pa.string()),
    ])
    table = pa.Table.from_pandas(frame[schema.names], schema=schema, preserve_index=False)
    pq.write_table(table, path)


def write_evaluation_outputs(
    directory: Path,
    scored: ScoredImages,
    manifest: pd.DataFrame,
    metrics: EvaluationMetrics,
    verdict: Verdict,
    *,
    run_info: Mapping[str, Any],
    boxes: Mapping[str, ImageBoxes] | None,
    gallery_size: int,
) -> None:
    """Write every output file into `directory` (an empty folder), `metrics.json` last.

    `run_info["dataset"]` names the target dataset in both metrics files.
    """
    frame = scores_frame(scored, manifest, verdict)
    _write_scores(frame, directory / SCORES_FILE)
    write_verdict(directory / VERDICT_FILE, verdict)
    title = f"FiLo evaluation on {run_info.get('dataset', 'the dataset')}"
    write_tables(metrics, directory / TABLE_CSV_FILE, directory / TABLE_MARKDOWN_FILE, title=title, boxes=boxes is not None)
    plots = directory / PLOTS_DIR
    plots.mkdir()
    roc, pr = category_curves(frame)
    roc.to_csv(plots / "roc.csv", index=False)
    pr.to_csv(plots / "pr.csv", index=False)
    plot_curves(roc, x="fpr", y="tpr", title="Image-level ROC per category", path=plots / "roc.png")
    plot_curves(pr, x="recall", y="precision", title="Image-level precision-recall per category", path=plots / "pr.png")
    plot_score_histograms(frame, plots / "score_histograms.png")
    if gallery_size > 0:
        write_gallery(
            frame,
            scored.anomaly_maps,
            scored.masks,
            threshold=verdict.threshold,
            size=gallery_size,
            path=plots / "gallery.png",
            boxes=boxes,
            has_masks=metrics.pixel_metrics,
        )
    write_metrics_json(directory / METRICS_DETAIL_FILE, metrics_document(metrics, run_info))
    write_metrics_json(directory / METRICS_FILE, metrics_summary(metrics, verdict, dataset=run_info["dataset"]))
