"""Overlay gallery of the best and worst evaluated images, in one PNG.

Each row shows one image at the model's input geometry with its kept Grounding DINO boxes,
the anomaly map over it (boxes applied, as scored), the ground-truth mask and the top
fine-grained descriptions. "Best" are the images handled correctly with the widest margin
to the verdict threshold; "worst" the ones on the wrong side of it by the widest margin
(or, when all are right, the closest calls).
"""

from __future__ import annotations

import os
import textwrap
from collections.abc import Mapping
from typing import TYPE_CHECKING

import numpy as np
from matplotlib.figure import Figure
from matplotlib.patches import Rectangle
from torchvision import transforms

from filo.data.images import load_rgb
from filo.evaluation.plots import save_png

if TYPE_CHECKING:
    import pandas as pd

    from filo.boxes.artifact import ImageBoxes

_LABELS = {0: "normal", 1: "anomalous"}


def select_cases(labels: np.ndarray, scores: np.ndarray, threshold: float, size: int) -> tuple[list[int], list[int]]:
    """Row positions of the `size` best and `size` worst images (disjoint, worst chosen first)."""
    labels, scores = np.asarray(labels), np.asarray(scores, dtype=np.float64)
    margin = np.where(labels == 1, scores - threshold, threshold - scores)
    best_first = np.argsort(-margin, kind="stable").tolist()
    worst = best_first[::-1][:size]
    chosen = set(worst)
    best = [position for position in best_first if position not in chosen][:size]
    return best, worst


def display_image(path: str | os.PathLike, size: int) -> np.ndarray:
    """The image as the model saw it: shorter side resized to `size` (bicubic), centre-cropped."""
    geometry = transforms.Compose([
        transforms.Resize(size, interpolation=transforms.InterpolationMode.BICUBIC),
        transforms.CenterCrop(size),
    ])
    return np.asarray(geometry(load_rgb(path)))


def write_gallery(
    table: pd.DataFrame,
    maps: np.ndarray,
    masks: np.ndarray,
    *,
    threshold: float,
    size: int,
    path: str | os.PathLike,
    boxes: Mapping[str, ImageBoxes] | None = None,
    has_masks: bool = True,
) -> None:
    """Draw the gallery of `size` best and worst images of `table` (rows aligned with `maps`/`masks`).

    `table` needs image_id, image_path, category, label, score and top_descriptions.
    """
    best, worst = select_cases(table["label"].to_numpy(), table["score"].to_numpy(), threshold, size)
    cases = [("best", row) for row in best] + [("worst", row) for row in worst]
    shown = maps[[row for _, row in cases]]
    low, high = float(shown.min()), float(shown.max())
    image_size = maps.shape[-1]
    figure = Figure(figsize=(10, 3.6 * len(cases)), layout="constrained")
    panels = figure.subplots(len(cases), 3, squeeze=False)
    for (kind, row), (image_axes, map_axes, mask_axes) in zip(cases, panels):
        record = table.iloc[row]
        image = display_image(record["image_path"], image_size)
        label, score = int(record["label"]), float(record["score"])
        verdict = "anomalous" if score >= threshold else "normal"
        image_axes.imshow(image)
        kept = boxes.get(record["image_id"]) if boxes is not None else None
        for x1, y1, x2, y2 in (kept.boxes if kept is not None else np.empty((0, 4))) * image_size:
            image_axes.add_patch(Rectangle((x1, y1), x2 - x1, y2 - y1, fill=False, edgecolor="lime", linewidth=1.5))
        image_axes.set_title(
            f"{kind.upper()} · {record['category']}\n{textwrap.shorten(record['image_id'], 48)}", fontsize="small"
        )
        map_axes.imshow(image)
        map_axes.imshow(maps[row], cmap="jet", alpha=0.5, vmin=low, vmax=high)
        map_axes.set_title(f"score {score:.3f}: {verdict}\n(truth: {_LABELS[label]})", fontsize="small")
        map_axes.set_xlabel(
            textwrap.fill("top: " + "; ".join(record["top_descriptions"]), 50), fontsize="x-small"
        )
        if has_masks:
            mask_axes.imshow(masks[row], cmap="gray", vmin=0, vmax=1)
        mask_axes.set_title("ground truth" if has_masks else "no ground-truth masks", fontsize="small")
        for axes in (image_axes, map_axes, mask_axes):
            axes.set_xticks([])
            axes.set_yticks([])
    figure.suptitle(f"map colour range {low:.3f} to {high:.3f}; green boxes: kept detections", fontsize="small")
    save_png(figure, path)
