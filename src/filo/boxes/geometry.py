"""Box geometry used by extraction and evaluation: 3x3 position cells and box keep masks.

Two rules exist everywhere a choice has to be made:

* ``"authors"`` reproduces the FiLo reference code exactly, quirks included: position
  cells are inclusive integer ranges (for 518: [0,172], [173,344], [345,517]) so a
  centre such as x=172.5 lies in no cell (position ``None``: the model then averages
  all positions); box regions are ``int()``-truncated pixel coordinates used as
  Python slices ``[y1:y2, x1:x2]`` (so a coordinate <= -1 wraps around like any
  negative slice index and usually leaves the region empty).
* ``"sane"``: half-open cells covering the whole image, boxes rounded outward and
  clipped to the image.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Literal, get_args

import numpy as np

from filo.vocabulary import POSITIONS

if TYPE_CHECKING:
    import torch  # kept lazy: geometry is imported at CLI start-up

Rule = Literal["authors", "sane"]
RULES: tuple[str, ...] = get_args(Rule)



def check_rule(rule: str) -> None:
    """Raise ValueError for an unknown geometry rule name."""
    if rule not in RULES:
        raise ValueError(f"unknown box rule {rule!r}; use one of {', '.join(RULES)}")


def cell_bounds(size: int) -> tuple[int, int, int, int]:
    """Boundaries 0 = b0 < b1 < b2 < b3 = size splitting one axis into thirds (b_k = round(k*size/3))."""
    if size < 3:
        raise ValueError(f"image size must be at least 3 to hold a 3x3 grid, got {size}")
    return (0, math.floor(size / 3 + 0.5), math.floor(2 * size / 3 + 0.5), size)


def inclusive_cell_ranges(size: int) -> tuple[tuple[int, int], ...]:
    """The authors' per-axis integer ranges [first, last] (inclusive); 518 -> (0,172), (173,344), (345,517)."""
    bounds = cell_bounds(size)
    return tuple((bounds[k], bounds[k + 1] - 1) for k in range(3))


def _axis_cell(coordinate: float, size: int, rule: Rule) -> int | None:
    """Index 0..2 of the third holding `coordinate` (pixels), or None when no cell holds it."""
    if rule == "authors":
        for index, (first, last) in enumerate(inclusive_cell_ranges(size)):
            if first <= coordinate <= last:
                return index
        return None
    bounds = cell_bounds(size)
    clipped = min(max(coordinate, 0.0), float(size))
    for index in range(3):
        if clipped < bounds[index + 1]:
            return index
    return 2


def position_of(center_x: float, center_y: float, size: int, *, rule: Rule = "authors") -> str | None:
    """The 3x3 position name (see POSITIONS) of a centre given in pixels on a size x size grid.

    Returns None when the authors' inclusive cells leave the centre uncovered.
    """
    check_rule(rule)
    column = _axis_cell(center_x, size, rule)
    row = _axis_cell(center_y, size, rule)
    if column is None or row is None:
        return None
    return POSITIONS[3 * row + column]


def keep_mask(
    boxes_xyxy_normalized: np.ndarray, height: int, width: int, *, rule: Rule = "authors"
) -> torch.Tensor:
    """Boolean (height, width) mask of the pixels inside any box; outside pixels get scaled by λ.

    `boxes_xyxy_normalized` is (K, 4) with x1, y1, x2, y2 in [0, 1] (the matched boxes of
    one image). No boxes gives an all-False mask (the whole map is scaled, as the
    authors do).
    """
    import torch  # kept lazy: geometry is imported at CLI start-up

    check_rule(rule)
    boxes = np.asarray(boxes_xyxy_normalized, dtype=np.float32).reshape(-1, 4)
    mask = torch.zeros((height, width), dtype=torch.bool)
    scale = np.array([width, height, width, height], dtype=np.float32)
    for x1, y1, x2, y2 in boxes * scale:
        if rule == "authors":
            mask[int(y1) : int(y2), int(x1) : int(x2)] = True
        else:
            top, left = max(math.floor(y1), 0), max(math.floor(x1), 0)
            bottom, right = min(math.ceil(y2), height), min(math.ceil(x2), width)
            if bottom > top and right > left:
                mask[top:bottom, left:right] = True
    return mask
