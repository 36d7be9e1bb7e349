"""Position cells and keep masks (authors' and sane rules)."""

import itertools

import numpy as np
import pytest
import torch

from filo.boxes.geometry import cell_bounds, inclusive_cell_ranges, keep_mask, position_of
from filo.vocabulary import POSITIONS


def test_positions_are_in_the_canonical_prompt_order():
    assert POSITIONS == (
        "top left", "top", "top right", "left", "center", "right", "bottom left", "bottom", "bottom right",
    )


def test_authors_cells_for_518_are_the_reference_ranges():
    assert inclusive_cell_ranges(518) == ((0, 172), (173, 344), (345, 517))


@pytest.mark.parametrize("size", [3, 64, 224, 336, 517, 518, 519, 1000])
def test_cells_partition_every_integer_of_the_axis(size):
    ranges = inclusive_cell_ranges(size)
    assert ranges[0][0] == 0 and ranges[-1][1] == size - 1
    for (_, last), (first, _) in itertools.pairwise(ranges):
        assert first == last + 1
    assert all(abs((last - first + 1) - size / 3) <= 1 for first, last in ranges)
    assert cell_bounds(size)[-1] == size


@pytest.mark.parametrize(
    ("center", "expected"),
    [
        ((259, 259), "center"),
        ((0, 0), "top left"),
        ((517, 0), "top right"),
        ((172, 173), "left"),
        ((173, 344), "center"),
        ((345, 517), "bottom right"),
        ((100, 400), "bottom left"),
        ((300, 500), "bottom"),
    ],
)
def test_authors_position_lookup(center, expected):
    assert position_of(*center, 518) == expected


@pytest.mark.parametrize("center", [(172.5, 259), (259, 344.2), (517.5, 10), (-0.1, 5)])
def test_authors_centre_between_cells_has_no_position(center):
    assert position_of(*center, 518) is None


def test_sane_cells_cover_the_whole_image():
    assert position_of(172.5, 259, 518, rule="sane") == "left"
    assert position_of(172.67, 259, 518, rule="sane") == "left"
    assert position_of(173.0, 259, 518, rule="sane") == "center"
    assert position_of(518.0, 518.0, 518, rule="sane") == "bottom right"
    assert position_of(-3.0, 0.0, 518, rule="sane") == "top left"


def test_unknown_rule_is_rejected():
    with pytest.raises(ValueError, match="unknown box rule"):
        position_of(1, 1, 518, rule="nice")


def test_authors_keep_mask_truncates_coordinates():
    mask = keep_mask(np.array([[0.19, 0.2, 0.55, 0.61]]), 10, 10)
    expected = torch.zeros(10, 10, dtype=torch.bool)
    expected[2:6, 1:5] = True
    assert mask.dtype == torch.bool and mask.shape == (10, 10)
    assert torch.equal(mask, expected)


def test_keep_mask_is_a_union_at_any_resolution():
    boxes = np.array([[0.0, 0.0, 0.25, 0.5], [0.5, 0.5, 1.0, 1.0]])
    mask = keep_mask(boxes, 8, 4)
    expected = torch.zeros(8, 4, dtype=torch.bool)
    expected[0:4, 0:1] = True
    expected[4:8, 2:4] = True
    assert torch.equal(mask, expected)


def test_no_boxes_keeps_nothing():
    assert not keep_mask(np.zeros((0, 4)), 5, 7).any()
    assert keep_mask(np.zeros((0, 4)), 5, 7).shape == (5, 7)


def test_authors_negative_corner_wraps_like_a_python_slice():
    # x1 = -1.5 px -> int() -> -1: the slice [-1:4] is empty, so the box keeps nothing
    boxes = np.array([[-0.15, 0.0, 0.4, 1.0]])
    assert not keep_mask(boxes, 10, 10).any()
    sane = keep_mask(boxes, 10, 10, rule="sane")
    assert sane[:, 0:4].all() and not sane[:, 4:].any()


def test_sane_keep_mask_rounds_outward():
    mask = keep_mask(np.array([[0.19, 0.2, 0.55, 0.61]]), 10, 10, rule="sane")
    expected = torch.zeros(10, 10, dtype=torch.bool)
    expected[2:7, 1:6] = True
    assert torch.equal(mask, expected)
