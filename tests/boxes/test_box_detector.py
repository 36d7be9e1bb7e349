"""Checkpoint loading with a loud key report, and the detector's image transform."""

import logging

import numpy as np
import pytest
import torch
from PIL import Image

from filo.boxes.detector import (
    IMAGENET_MEAN,
    IMAGENET_STD,
    load_detector_image,
    load_state_reported,
    read_checkpoint_state,
    resolve_config_path,
)
from filo.errors import FiloError


def small_model() -> torch.nn.Module:
    torch.manual_seed(0)
    return torch.nn.Sequential(torch.nn.Linear(20, 20), torch.nn.Linear(20, 2))  # 420 + 42 values


def test_complete_state_loads_quietly(caplog):
    model, source = small_model(), small_model()
    for parameter in source.parameters():
        parameter.data.add_(1.0)
    with caplog.at_level(logging.WARNING):
        report = load_state_reported(model, source.state_dict())
    assert report.clean and report.uninitialized_fraction == 0.0
    assert not caplog.records
    assert torch.equal(model[0].weight, source[0].weight)


def test_missing_unexpected_and_mismatched_keys_are_reported(caplog):
    model = small_model()
    state = {key: value.clone() + 1 for key, value in small_model().state_dict().items()}
    del state["1.bias"]
    state["0.bias"] = torch.zeros(3)
    state["extra.weight"] = torch.zeros(1)
    with caplog.at_level(logging.WARNING):
        report = load_state_reported(model, state, source="ckpt.pth")
    assert report.missing == ("1.bias",)
    assert report.mismatched == ("0.bias",)
    assert report.unexpected == ("extra.weight",)
    assert report.uninitialized_fraction == pytest.approx((2 + 20) / 462)
    message = caplog.records[0].getMessage()
    assert caplog.records[0].levelno == logging.WARNING
    for key in ("1.bias", "0.bias", "extra.weight", "ckpt.pth"):
        assert key in message
    assert torch.equal(model[0].weight, state["0.weight"])


def test_mostly_uninitialized_model_is_refused():
    model = small_model()
    state = {"1.weight": torch.zeros(2, 20), "1.bias": torch.zeros(2)}
    with pytest.raises(FiloError, match=r"leaves 91% of the model's parameters uninitialized"):
        load_state_reported(model, state, source="checkpoint other.pth")


def test_checkpoint_wrappers_and_prefixes_are_removed(tmp_path):
    state = small_model().state_dict()
    wrapped = tmp_path / "wrapped.pth"
    torch.save({"model": {f"module.{key}": value for key, value in state.items()}}, wrapped)
    bare = tmp_path / "bare.pth"
    torch.save(state, bare)
    assert set(read_checkpoint_state(wrapped)) == set(state)
    assert set(read_checkpoint_state(bare)) == set(state)


def test_missing_or_broken_checkpoint_is_a_user_error(tmp_path):
    with pytest.raises(FiloError, match="does not exist"):
        read_checkpoint_state(tmp_path / "nope.pth")
    broken = tmp_path / "broken.pth"
    broken.write_bytes(b"not a checkpoint")
    with pytest.raises(FiloError, match="broken.pth"):
        read_checkpoint_state(broken)


def test_detector_image_is_resized_and_normalized(tmp_path):
    path = tmp_path / "white.png"
    Image.new("RGB", (100, 50), (255, 255, 255)).save(path)
    tensor = load_detector_image(path, 64)
    assert tensor.shape == (3, 64, 128)
    expected = (1 - np.array(IMAGENET_MEAN)) / np.array(IMAGENET_STD)
    assert torch.allclose(tensor[:, 10, 10], torch.tensor(expected, dtype=torch.float32), atol=1e-5)


def test_detector_image_longer_side_is_capped(tmp_path):
    path = tmp_path / "wide.png"
    Image.new("L", (1000, 100)).save(path)
    tensor = load_detector_image(path, 518)
    assert tensor.shape[0] == 3 and max(tensor.shape[1:]) <= 1333


def test_checkpoint_with_training_objects_needs_trust_then_loads_with_a_warning(tmp_path, caplog):
    import argparse

    path = tmp_path / "finetuned.pth"
    torch.save({"model": small_model().state_dict(), "args": argparse.Namespace(lr=1e-4)}, path)
    with pytest.raises(FiloError, match="--trust-checkpoint"):
        read_checkpoint_state(path)
    with caplog.at_level(logging.WARNING):
        state = read_checkpoint_state(path, trust_pickle=True)
    assert set(state) == {"0.weight", "0.bias", "1.weight", "1.bias"}
    assert "trusted pickle" in caplog.text


def test_config_is_a_file_or_a_bundled_name(tmp_path):
    own = tmp_path / "my_config.py"
    own.write_text("modelname = 'groundingdino'\n")
    assert resolve_config_path(own) == own
    assert resolve_config_path("GroundingDINO_SwinT_OGC").name == "GroundingDINO_SwinT_OGC.py"
    assert resolve_config_path("GroundingDINO_SwinT_OGC.py").is_file()
    with pytest.raises(FiloError, match="nope.py does not exist"):
        resolve_config_path(tmp_path / "nope.py")


def test_long_key_lists_are_shortened_in_the_warning(caplog):
    model = torch.nn.Sequential(*[torch.nn.Linear(4, 4) for _ in range(40)], torch.nn.Linear(4, 400))
    state = {key: value for key, value in model.state_dict().items() if key.startswith("40.")}
    with caplog.at_level(logging.WARNING):
        report = load_state_reported(model, state)
    assert len(report.missing) == 80
    message = caplog.records[0].getMessage()
    assert "80 missing keys [0.bias, 0.weight" in message and "... 55 more (see debug log)" in message


def test_too_small_images_for_swin_t_ogc_say_which_setting_to_raise(tmp_path):
    """Swin-T OGC picks 900 queries among its encoder tokens: a 64-pixel image has about 110 of them."""
    from filo.boxes.detector import GroundingDetector, build_model
    from filo.boxes.tiny import TEXT_ENCODER_DIR, make_tiny_detector

    text_encoder = make_tiny_detector(tmp_path / "tiny") / TEXT_ENCODER_DIR
    torch.manual_seed(0)
    detector = GroundingDetector(build_model("GroundingDINO_SwinT_OGC", str(text_encoder), "cpu"), "cpu")
    with pytest.raises(FiloError, match=r"64x64-pixel images than its 900 queries: raise boxes.rules.image_size"):
        detector.predict(torch.zeros(1, 3, 64, 64), "a photo of a thing .")
