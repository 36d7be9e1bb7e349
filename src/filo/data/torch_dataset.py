"""The torch Dataset over a manifest, with the authors' 2x2 mosaic training augmentation.

Items are dicts:
- `image`: float32 (3, S, S), open_clip's validation transform with `resize_mode`:
  "squash" (default, the authors' open_clip fork: bicubic resize to S x S) or "shortest"
  (upstream open_clip: bicubic resize of the shorter side to S, centre crop), then CLIP
  mean/std normalization;
- `mask`: float32 (1, S, S) in {0, 1}: the 0/255 mask put through the same geometry
  (bilinear) and thresholded at half scale, so it stays aligned with the image; zeros for
  normal images and for anomalous images without a mask file;
- `label` (int), `category`, `defect_type`, `image_id`, `image_path` (of the indexed row);
- `has_mask` (bool): whether `mask` is ground truth (normal images, or a mask file exists);
- `mosaic` (bool): whether the item was replaced by a mosaic.

Mosaic (the authors' MVTec training augmentation): with probability `aug_rate` the item
is replaced by a 2x2 mosaic of four random images of the same dataset and category
(each drawn by picking a defect type, "good" included, then an image of it) with their
masks. Its label is, with `mosaic_label="authors"` (default), the indexed sample's label,
as the authors' code keeps it (wrong for the adapter phase, kept for reproduction); with
`"mosaic"` it is 1 when any tile is anomalous (the mosaic mask has anomalous pixels).

Randomness comes only from `numpy.random.default_rng([seed, epoch, index])`, so an item
is the same whatever the DataLoader's worker count; call `set_epoch` before each epoch
(with non-persistent workers, which copy the dataset at every epoch).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Literal

import numpy as np
import open_clip
import torch
from PIL import Image
from torchvision import transforms

from filo.data.images import load_mask, load_rgb
from filo.data.mosaic import MOSAIC_LABELS, MosaicLabel
from filo.errors import FiloError

if TYPE_CHECKING:
    import pandas as pd

_GROUP_COLUMNS = ["dataset", "category"]


RESIZE_MODES = ("squash", "shortest")


def _mask_transform(image_size: int, resize_mode: str):
    """The image transform's geometry for 0/255 masks, with bilinear interpolation."""
    bilinear = transforms.InterpolationMode.BILINEAR
    if resize_mode == "squash":
        return transforms.Resize((image_size, image_size), interpolation=bilinear)
    return transforms.Compose([
        transforms.Resize(image_size, interpolation=bilinear),
        transforms.CenterCrop(image_size),
    ])


def _mask_image(mask: np.ndarray) -> Image.Image:
    return Image.fromarray(mask.astype(np.uint8) * 255, mode="L")


class AnomalyDataset(torch.utils.data.Dataset):
    """The images of one split of a manifest, ready for the FiLo model (see the module docstring).

    `rows` holds that split's manifest rows; item `i` is `rows.iloc[i]` (or a mosaic standing in for it).
    """

    def __init__(
        self,
        manifest: pd.DataFrame,
        image_size: int,
        *,
        split: Literal["train", "test"] = "test",
        aug_rate: float = 0.0,
        mosaic_label: MosaicLabel = "authors",
        seed: int = 0,
        resize_mode: str = "squash",
    ) -> None:

        if not 0.0 <= aug_rate <= 1.0:
            raise FiloError(f"aug_rate must lie in [0, 1], got {aug_rate}")
        if resize_mode not in RESIZE_MODES:
            raise FiloError(f"resize_mode must be one of {RESIZE_MODES}, got {resize_mode!r}")
        if mosaic_label not in MOSAIC_LABELS:
            raise FiloError(f"mosaic_label must be one of {MOSAIC_LABELS}, got {mosaic_label!r}")
        self.rows = manifest[manifest["split"] == split].reset_index(drop=True)
        if self.rows.empty:
            raise FiloError(f"the manifest has no {split!r} images; index the dataset or choose another split")
        self.image_size = image_size
        self.aug_rate = aug_rate
        self.mosaic_label = mosaic_label
        self.seed = seed
        self.epoch = 0
        self._image_transform = open_clip.image_transform(image_size, is_train=False, resize_mode=resize_mode)
        self._mask_transform = _mask_transform(image_size, resize_mode)
        self._mosaic_pools = {
            group: [members.index.to_numpy() for _, members in rows.groupby("defect_type", sort=True)]
            for group, rows in self.rows.groupby(_GROUP_COLUMNS, sort=False)
        }

    def set_epoch(self, epoch: int) -> None:
        """Select the epoch whose random draws `__getitem__` reproduces."""
        self.epoch = epoch

    def __len__(self) -> int:
        return len(self.rows)

    def _load(self, position: int) -> tuple[Image.Image, np.ndarray, bool]:
        """An image, its boolean mask at full size, and whether that mask is ground truth."""
        row = self.rows.iloc[position]
        image = load_rgb(row["image_path"])
        has_file = isinstance(row["mask_path"], str)
        if row["label"] == 1 and has_file:
            mask = load_mask(row["mask_path"])
        else:
            mask = np.zeros((image.height, image.width), dtype=bool)
        return image, mask, bool(row["label"] == 0 or has_file)

    def _mosaic(self, position: int, rng: np.random.Generator) -> tuple[Image.Image, np.ndarray, bool, int]:
        """A 2x2 mosaic of four random images of the row's category: image, mask, has_mask, any-anomalous."""
        row = self.rows.iloc[position]
        pools = self._mosaic_pools[(row["dataset"], row["category"])]
        picks = [int(rng.choice(pools[rng.integers(len(pools))])) for _ in range(4)]
        tiles = [self._load(pick) for pick in picks]
        width, height = tiles[0][0].size
        canvas = Image.new("RGB", (2 * width, 2 * height))
        mask = np.zeros((2 * height, 2 * width), dtype=bool)
        for slot, (image, tile_mask, _) in enumerate(tiles):
            top, left = (slot // 2) * height, (slot % 2) * width
            if image.size != (width, height):
                image = image.resize((width, height), Image.Resampling.BICUBIC)
                tile_mask = np.asarray(_mask_image(tile_mask).resize((width, height), Image.Resampling.NEAREST)) > 0
            canvas.paste(image, (left, top))
            mask[top:top + height, left:left + width] = tile_mask
        anomalous = max(int(self.rows.at[pick, "label"]) for pick in picks)
        return canvas, mask, all(tile[2] for tile in tiles), anomalous

    def __getitem__(self, index: int) -> dict[str, Any]:
        row = self.rows.iloc[index]
        rng = np.random.default_rng([self.seed, self.epoch, index])
        is_mosaic = bool(rng.random() < self.aug_rate)
        label, defect_type = int(row["label"]), row["defect_type"]
        if is_mosaic:
            image, mask, has_mask, mosaic_anomalous = self._mosaic(index, rng)
            if self.mosaic_label == "mosaic":
                label, defect_type = mosaic_anomalous, "mosaic"
        else:
            image, mask, has_mask = self._load(index)
        resized_mask = np.asarray(self._mask_transform(_mask_image(mask))) >= 128
        return {
            "image": self._image_transform(image),
            "mask": torch.from_numpy(resized_mask.astype(np.float32))[None],
            "label": label,
            "category": row["category"],
            "defect_type": defect_type,
            "image_id": row["image_id"],
            "image_path": row["image_path"],
            "has_mask": has_mask,
            "mosaic": is_mosaic,
        }


def category_batches(
    manifest: pd.DataFrame, batch_size: int, *, seed: int, epoch: int, shuffle: bool = True
) -> list[list[int]]:
    """Batches of row positions in `manifest` where every batch holds one (dataset, category).

    For an `AnomalyDataset` pass its `rows`, so positions are dataset indices. With
    `shuffle`, rows are shuffled within each category and the batches are shuffled
    across categories, reproducibly for (seed, epoch); the last batch of a category may
    be smaller. Without it, categories keep their first-appearance order.
    """
    if batch_size < 1:
        raise FiloError(f"batch_size must be at least 1, got {batch_size}")
    rng = np.random.default_rng([seed, epoch])
    positions = manifest.reset_index(drop=True).groupby(_GROUP_COLUMNS, sort=False).indices
    batches = []
    for members in positions.values():
        order = rng.permutation(members) if shuffle else np.sort(members)
        batches += [order[start:start + batch_size].tolist() for start in range(0, len(order), batch_size)]
    if shuffle:
        batches = [batches[i] for i in rng.permutation(len(batches))]
    return batches
