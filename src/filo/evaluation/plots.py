"""Evaluation figures as PNG files: ROC and PR curves per category, score histograms per category.

Figures are built with `matplotlib.figure.Figure` and saved through the Agg canvas, never
through pyplot, so no GUI backend or global state is touched. The figure count is fixed:
one per kind, with a curve or a panel per category.
"""

from __future__ import annotations

import math
import os
from typing import TYPE_CHECKING

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

if TYPE_CHECKING:
    import pandas as pd

HISTOGRAM_BINS = 20
HISTOGRAM_COLUMNS = 4


def save_png(figure: Figure, path: str | os.PathLike) -> None:
    """Render `figure` with the Agg canvas into a PNG at `path` (figures use constrained layout).

    No "Software" text chunk: the file's bytes do not name the matplotlib release that drew it.
    """
    FigureCanvasAgg(figure)
    figure.savefig(path, format="png", dpi=100, metadata={"Software": None})


def plot_curves(curves: pd.DataFrame, *, x: str, y: str, title: str, path: str | os.PathLike) -> None:
    """One figure with a line per category of a long curve table (columns category, `x`, `y`)."""
    figure = Figure(figsize=(6, 5), layout="constrained")
    axes = figure.add_subplot()
    for category, points in curves.groupby("category", sort=True):
        axes.plot(points[x], points[y], label=category, drawstyle="steps-post" if y == "precision" else "default")
    if x == "fpr":
        axes.plot([0, 1], [0, 1], color="grey", linestyle=":", linewidth=1)
    axes.set(xlabel=x.upper() if x == "fpr" else x, ylabel=y.upper() if y == "tpr" else y, title=title)
    axes.set_xlim(0, 1)
    axes.set_ylim(0, 1.02)
    if not curves.empty:
        axes.legend(fontsize="small", loc="lower right" if x == "fpr" else "lower left")
    else:
        axes.text(0.5, 0.5, "no category has both classes", ha="center", va="center")
    save_png(figure, path)


def plot_score_histograms(table: pd.DataFrame, path: str | os.PathLike) -> None:
    """A grid with one panel per category: score histograms of normal vs anomalous images."""
    groups = list(table.groupby("category", sort=True))
    columns = min(HISTOGRAM_COLUMNS, len(groups))
    rows = math.ceil(len(groups) / columns)
    figure = Figure(figsize=(3.2 * columns, 2.6 * rows), layout="constrained")
    for index, (category, images) in enumerate(groups):
        axes = figure.add_subplot(rows, columns, index + 1)
        scores = images["score"].to_numpy()
        edges = np.linspace(scores.min(), scores.max() + 1e-9, HISTOGRAM_BINS + 1)
        for label, name, color in ((0, "normal", "tab:blue"), (1, "anomalous", "tab:red")):
            subset = scores[images["label"].to_numpy() == label]
            axes.hist(subset, bins=edges, alpha=0.6, color=color, label=f"{name} ({len(subset)})")
        axes.set_title(category, fontsize="medium")
        axes.set_xlabel("anomaly score", fontsize="small")
        axes.legend(fontsize="x-small")
    save_png(figure, path)
