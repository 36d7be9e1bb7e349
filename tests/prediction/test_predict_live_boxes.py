"""`filo predict` with a live Grounding DINO (the tiny random demo detector)."""

import json

import numpy as np
import pytest
import torch

from filo.boxes.rules import BoxRules
from filo.boxes.source import DetectorBoxes, ImageRef, positions_and_masks
from filo.boxes.tiny import CHECKPOINT_FILE, CONFIG_FILE, TEXT_ENCODER_DIR, make_tiny_detector
from filo.cli import main
from filo.descriptions.defaults import load_shipped_defaults
from filo.vocabulary import POSITIONS

from .builders import VISA_CATEGORY, write_images

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def detector_dir(tmp_path_factory):
    return make_tiny_detector(tmp_path_factory.mktemp("detector") / "tiny", seed=0)


def test_live_boxes_give_positions_and_keep_masks_at_the_map_size(detector_dir, tmp_path):
    images = write_images(tmp_path / "in", 2)
    boxes = DetectorBoxes.load(detector_dir / CONFIG_FILE, detector_dir / CHECKPOINT_FILE,
                               text_encoder=str(detector_dir / TEXT_ENCODER_DIR), device="cpu")
    refs = [ImageRef(str(path), str(path)) for path in images]
    found = positions_and_masks(boxes, refs, load_shipped_defaults()[VISA_CATEGORY].descriptions, 64)
    assert len(found.positions) == 2 and all(p is None or p in POSITIONS for p in found.positions)
    assert found.keep.shape == (2, 64, 64) and found.keep.dtype == torch.bool
    assert len(found.entries) == 2
    assert all(entry.boxes.shape[1:] == (4,) and len(entry.phrases) == len(entry.boxes) for entry in found.entries)


def test_predict_with_a_detector_reports_the_detector_positions(detector_dir, checkpoint, tmp_path, capsys):
    images = write_images(tmp_path / "in", 2)
    code = main(["predict", *map(str, images), "--category", VISA_CATEGORY, "--model", str(checkpoint),
                 "--detector-config", str(detector_dir / CONFIG_FILE),
                 "--detector-checkpoint", str(detector_dir / CHECKPOINT_FILE),
                 "--text-encoder", str(detector_dir / TEXT_ENCODER_DIR), "--box-image-size", "64",
                 "--out-dir", str(tmp_path / "out"), "--device", "cpu"])
    assert code == 0
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    boxes = DetectorBoxes.load(detector_dir / CONFIG_FILE, detector_dir / CHECKPOINT_FILE,
                               text_encoder=str(detector_dir / TEXT_ENCODER_DIR), device="cpu",
                               rules=BoxRules(image_size=64))
    refs = [ImageRef(str(path), str(path)) for path in images]
    expected = boxes.boxes_for(refs, load_shipped_defaults()[VISA_CATEGORY].descriptions)
    assert [line["position"] for line in lines] == [entry.position for entry in expected]
    width, height = 80, 60  # write_images' size: boxes are reported in the original image's pixels, clipped to it
    assert [[box["box"] for box in line["boxes"]] for line in lines] == [
        [pytest.approx(np.clip([x0 * width, y0 * height, x1 * width, y1 * height], 0, [width, height] * 2))
         for x0, y0, x1, y1 in entry.boxes.tolist()] for entry in expected
    ]
    assert sum(len(line["boxes"]) for line in lines) > 0  # the tiny detector matches something here


def test_a_detector_needs_both_config_and_checkpoint(checkpoint, tmp_path, capsys):
    images = write_images(tmp_path / "in", 1)
    code = main(["predict", str(images[0]), "--category", VISA_CATEGORY, "--model", str(checkpoint),
                 "--detector-config", "x.py"])
    assert code == 2
    assert "both --detector-config and --detector-checkpoint" in capsys.readouterr().err
