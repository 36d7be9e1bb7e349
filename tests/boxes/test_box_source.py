"""The one box-source interface: the offline artifact and the live detector give the same boxes."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from filo.boxes.extract import extract_boxes
from filo.boxes.rules import BoxRules
from filo.boxes.source import ArtifactBoxes, DetectorBoxes, ImageRef, decide_images, positions_and_masks
from filo.data.manifest import read_manifest
from filo.errors import FiloError

from .conftest import DESCRIPTIONS, make_dataset
from .fake_detector import FakeDetector

RULES = BoxRules(image_size=32)


def _test_images(manifest_path) -> dict[str, list[ImageRef]]:
    test = read_manifest(manifest_path).query("split == 'test'")
    return {category: [ImageRef(row.image_id, row.image_path) for row in rows.itertuples(index=False)]
            for category, rows in test.groupby("category", sort=False)}


@pytest.mark.parametrize("rule", ["authors", "sane"])
def test_artifact_and_live_detector_give_the_same_positions_and_masks(tmp_path, rule: str) -> None:
    rules = BoxRules(image_size=32, rule=rule)
    manifest, descriptions = make_dataset(tmp_path, sizes=((40, 40), (48, 32)))
    out = extract_boxes(manifest, descriptions, tmp_path / "boxes.parquet", FakeDetector(), rules=rules,
                        batch_size=3)
    offline, live = ArtifactBoxes.load(out, rule=rule), DetectorBoxes(FakeDetector(), rules)
    for category, images in _test_images(manifest).items():
        expected = positions_and_masks(offline, images, DESCRIPTIONS[category], 24)
        found = positions_and_masks(live, images, DESCRIPTIONS[category], 24)
        assert found.positions == expected.positions
        assert torch.equal(found.keep, expected.keep)
        assert found.keep.shape == (len(images), 24, 24) and found.keep.any()


def test_artifact_source_names_the_images_it_lacks(dataset, tmp_path) -> None:
    manifest, descriptions = dataset
    out = extract_boxes(manifest, descriptions, tmp_path / "boxes.parquet", FakeDetector(), rules=RULES)
    source = ArtifactBoxes.load(out)
    with pytest.raises(FiloError, match=r"has no entry for 1 test images \(e.g. \['elsewhere/x.png'\]\)"):
        source.boxes_for([ImageRef("elsewhere/x.png", "x.png")], ["scratch"])


def test_decide_images_keeps_input_order_and_runs_one_pass_per_shape() -> None:
    generator = torch.Generator().manual_seed(0)
    small = [torch.rand(3, 32, 32, generator=generator) for _ in range(2)]
    wide = [torch.rand(3, 32, 48, generator=generator) for _ in range(2)]
    images = [small[0], wide[0], small[1], wide[1]]
    detector = FakeDetector()
    batched = decide_images(detector, images, ["scratch"], RULES)
    assert sorted(detector.batch_shapes) == [(2, 3, 32, 32), (2, 3, 32, 48)]
    one_by_one = [decide_images(FakeDetector(), [image], ["scratch"], RULES)[0] for image in images]
    assert [d.position for d in batched] == [d.position for d in one_by_one]
    for ours, single in zip(batched, one_by_one):
        np.testing.assert_array_equal([box.xyxy for box in ours.kept], [box.xyxy for box in single.kept])
