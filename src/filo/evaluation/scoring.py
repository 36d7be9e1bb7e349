"""Score every test image of a manifest with a FiLo model: scores, maps and explanations.

Shared by evaluation, the learnability benchmark and batch prediction: one place that
turns (model, manifest, descriptions, an optional box source) into per-image results.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
import pandas as pd
import torch
from tqdm import tqdm

from filo.boxes.source import BoxSource, ImageRef, positions_and_masks
from filo.data.torch_dataset import AnomalyDataset, category_batches
from filo.descriptions import CategoryDescriptions
from filo.errors import FiloError
from filo.kernels import use_reproducible_kernels
from filo.model.filo import FiLo
from filo.model.precision import autocast


@dataclass
class ScoredImages:
    """Per-image results of one scoring run, in manifest test-split order."""

    table: pd.DataFrame
    """One row per image: image_id, category, defect_type, label, has_mask, score, position, top_descriptions."""
    anomaly_maps: np.ndarray
    """[N, S, S] float32 anomaly maps after box suppression."""
    masks: np.ndarray
    """[N, S, S] bool ground-truth masks at the model size (all False without a mask)."""


@torch.no_grad()
def score_manifest(
    model: FiLo,
    manifest: pd.DataFrame,
    descriptions: Mapping[str, CategoryDescriptions],
    *,
    boxes: BoxSource | None = None,
    batch_size: int = 8,
    num_workers: int = 0,
    device: str | torch.device = "cpu",
    precision: str = "fp32",
) -> ScoredImages:
    """Run `model` over the manifest's test split, one category per batch.

    `boxes` gives each image's position and the boxes outside which the map is scaled by λ
    (e.g. `ArtifactBoxes` of `filo boxes`); without it, every image averages all positions and
    no pixel is suppressed. `precision` "bf16" runs the forward under bf16 autocast (see
    filo.model.precision); the outputs depend on `batch_size` only through float32 rounding (`filo.kernels`).
    """
    use_reproducible_kernels()
    model = model.to(device).eval()
    dataset = AnomalyDataset(manifest, model.config.image_size, split="test", resize_mode=model.config.resize_mode)
    missing = sorted(set(dataset.rows["category"]) - set(descriptions))
    if missing:
        raise FiloError(f"no descriptions for categories {missing}; run `filo describe` on this manifest")
    for category in dataset.rows["category"].unique():
        model.prepare(category, descriptions[category].descriptions)
    batches = category_batches(dataset.rows, batch_size, seed=0, epoch=0, shuffle=False)
    loader = torch.utils.data.DataLoader(
        dataset, batch_sampler=batches, num_workers=num_workers, pin_memory=torch.cuda.is_available()
    )
    size = model.config.image_size
    count = len(dataset)
    maps = np.zeros((count, size, size), dtype=np.float32)
    masks = np.zeros((count, size, size), dtype=bool)
    records: list[dict | None] = [None] * count
    for batch_rows, batch in tqdm(zip(batches, loader), total=len(batches), desc="scoring", unit="batch"):
        category = batch["category"][0]
        positions, keep = None, None
        if boxes is not None:
            rows = dataset.rows.iloc[batch_rows]
            images = [ImageRef(row.image_id, row.image_path) for row in rows.itertuples(index=False)]
            found = positions_and_masks(boxes, images, descriptions[category].descriptions, size)
            positions, keep = found.positions, found.keep
        with autocast(device, precision):
            prediction = model.predict(batch["image"].to(device), category, positions=positions, keep_masks=keep)
        maps[batch_rows] = prediction.anomaly_map.float().cpu().numpy()
        masks[batch_rows] = batch["mask"][:, 0].numpy() > 0.5
        for slot, row in enumerate(batch_rows):
            records[row] = {
                "image_id": batch["image_id"][slot],
                "category": category,
                "defect_type": batch["defect_type"][slot],
                "label": int(batch["label"][slot]),
                "has_mask": bool(batch["has_mask"][slot]),
                "score": float(prediction.score[slot]),
                "position": positions[slot] if positions is not None else None,
                "top_descriptions": [name for name, _ in prediction.top_descriptions[slot]],
                "top_similarities": [value for _, value in prediction.top_descriptions[slot]],
            }
    return ScoredImages(pd.DataFrame.from_records(records), maps, masks)
