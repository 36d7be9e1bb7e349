"""Evaluation reports: the `metrics.json` summary for `dvc metrics`, the detailed metrics document, and
the per-category table as CSV and Markdown.

`metrics.json` is one flat row, short enough for `dvc metrics show`: the target dataset, the
mean over categories of the image and pixel AUROC, AP, F1-max and AUPRO, the verdict
threshold and the image counts. Everything else (per-category values, undefined values and
why, run information) is in the detailed document and the table.

The table has the shape of the paper's Tables 5–8: one row per category (raw folder
name), then a Mean row over categories. The CSV holds the exact values in [0, 1]; the
Markdown shows percentages with one decimal, as the paper does.
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Mapping
from typing import Any

import pandas as pd

from filo.evaluation.aggregate import EvaluationMetrics
from filo.evaluation.verdict import Verdict
from filo.io import atomic_write_text

METRICS_SCHEMA_VERSION = 1
SUMMARY_METRICS = (
    "image_auroc", "image_ap", "image_f1_max", "pixel_auroc", "pixel_ap", "pixel_f1_max", "pixel_aupro",
)
"""The mean metrics `metrics.json` holds (those the dataset has: no pixel metrics without masks)."""
MEAN_ROW = "mean"
COLUMN_TITLES = {
    "image_auroc": "I-AUROC",
    "image_ap": "I-AP",
    "image_f1_max": "I-F1-max",
    "pixel_auroc": "P-AUROC",
    "pixel_ap": "P-AP",
    "pixel_f1_max": "P-F1-max",
    "pixel_aupro": "AUPRO",
    "pixel_aupro_authors": "AUPRO (authors)",
}


def _finite_or_none(value: float) -> float | None:
    """JSON has no NaN: undefined metric values are written as null."""
    return None if math.isnan(value) else value


def _json_values(values: Mapping[str, float]) -> dict[str, float | None]:
    return {key: _finite_or_none(value) for key, value in values.items()}


def metrics_summary(metrics: EvaluationMetrics, verdict: Verdict, *, dataset: str) -> dict[str, Any]:
    """The flat `metrics.json` row: dataset, mean metrics (null where undefined), threshold, image counts."""
    counts = metrics.counts.values()
    return {
        "dataset": dataset,
        **{key: _finite_or_none(metrics.mean[key]) for key in SUMMARY_METRICS if key in metrics.mean},
        "threshold": verdict.threshold,
        "n_normal": sum(c["normal"] for c in counts),
        "n_anomalous": sum(c["anomalous"] for c in counts),
    }


def metrics_document(metrics: EvaluationMetrics, run_info: Mapping[str, Any]) -> dict[str, Any]:
    """The detailed metrics document: mean and per-category metrics plus counts and how they were made.

    `run_info` adds descriptive fields (dataset, boxes used, pro_fpr_limit, bins, ...).
    """
    counts = metrics.counts.values()
    return {
        "schema_version": METRICS_SCHEMA_VERSION,
        **run_info,
        "n_images": sum(c["normal"] + c["anomalous"] for c in counts),
        "n_normal": sum(c["normal"] for c in counts),
        "n_anomalous": sum(c["anomalous"] for c in counts),
        "n_categories": len(metrics.per_category),
        "pixel_metrics": metrics.pixel_metrics,
        "mean": _json_values(metrics.mean),
        "per_category": {category: _json_values(values) for category, values in metrics.per_category.items()},
        "counts": metrics.counts,
        "undefined": metrics.undefined,
        "mean_excludes": metrics.mean_excludes(),
    }


def write_metrics_json(path: str | os.PathLike, document: Mapping[str, Any]) -> None:
    """Write a metrics document (summary or detailed) atomically (strict JSON: no NaN)."""
    atomic_write_text(path, json.dumps(document, indent=2, allow_nan=False) + "\n")


def metrics_table(metrics: EvaluationMetrics) -> pd.DataFrame:
    """One row per category plus a final "mean" row: counts and every metric, exact values."""
    rows = [
        {
            "category": category,
            "n_normal": metrics.counts[category]["normal"],
            "n_anomalous": metrics.counts[category]["anomalous"],
            **values,
        }
        for category, values in metrics.per_category.items()
    ]
    rows.append({
        "category": MEAN_ROW,
        "n_normal": sum(c["normal"] for c in metrics.counts.values()),
        "n_anomalous": sum(c["anomalous"] for c in metrics.counts.values()),
        **metrics.mean,
    })
    return pd.DataFrame(rows)


def markdown_table(table: pd.DataFrame, *, title: str, notes: list[str]) -> str:
    """The table in Markdown, metrics as percentages with one decimal ("–" where undefined)."""
    metric_keys = [key for key in COLUMN_TITLES if key in table.columns]
    header = ["Object name", "Normal", "Anomalous", *(COLUMN_TITLES[key] for key in metric_keys)]
    lines = [f"# {title}", ""]
    if notes:
        lines += [*(f"- {note}" for note in notes), ""]
    lines += ["| " + " | ".join(header) + " |", "|" + "|".join(["---"] + ["---:"] * (len(header) - 1)) + "|"]
    for record in table.to_dict("records"):
        name = "**Mean**" if record["category"] == MEAN_ROW else record["category"]
        cells = [name, str(record["n_normal"]), str(record["n_anomalous"])]
        cells += ["–" if math.isnan(record[key]) else f"{100 * record[key]:.1f}" for key in metric_keys]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def report_notes(metrics: EvaluationMetrics, *, boxes: bool) -> list[str]:
    """Caveats the Markdown report states above the table."""
    notes = ["mean = unweighted mean over categories; values in %"]
    if not metrics.image_metrics:
        notes.append("the dataset has good images only: no metrics, only the verdict threshold calibrated on them")
    elif not metrics.pixel_metrics:
        notes.append("the dataset has no ground-truth masks: image-level metrics only")
    if not boxes:
        notes.append("no Grounding DINO boxes: positions averaged, nothing suppressed (not the paper protocol)")
    for key, categories in metrics.mean_excludes().items():
        notes.append(f"{COLUMN_TITLES.get(key, key)} is undefined for {', '.join(categories)} (left out of the mean)")
    return notes


def write_tables(metrics: EvaluationMetrics, csv_path: str | os.PathLike, markdown_path: str | os.PathLike,
                 *, title: str, boxes: bool) -> pd.DataFrame:
    """Write the per-category table as CSV (exact values) and Markdown (paper style); return it."""
    table = metrics_table(metrics)
    atomic_write_text(csv_path, table.to_csv(index=False))
    atomic_write_text(markdown_path, markdown_table(table, title=title, notes=report_notes(metrics, boxes=boxes)))
    return table
