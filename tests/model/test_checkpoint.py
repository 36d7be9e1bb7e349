"""Checkpoint round trips, the authors' format, and clear errors for bad files."""

from __future__ import annotations

import logging

import pytest
import torch

from filo.errors import FiloError
from filo.model.checkpoint import load_checkpoint, save_checkpoint
from filo.model.clip_backbone import TINY_CLIP_NAME, create_clip
from filo.model.config import preset_config
from filo.model.filo import FiLo

MMCI_AUTHORS_NAMES = {"conv1x1": "fc_11", "conv3x3": "fc_33", "conv5x5": "fc_55",
                      "conv7x7": "fc_77", "conv1x5": "fc_15", "conv5x1": "fc_51"}


@pytest.fixture(scope="module")
def trained_like_model():
    torch.manual_seed(0)
    model = FiLo(preset_config("tiny"))
    with torch.no_grad():
        for parameter in model.trainable_state_dict().values():
            parameter.add_(torch.randn_like(parameter) * 0.1)
    model.prepare("wood_grain", ("knot", "crack"))
    return model.eval()


def _authors_state_dict(model: FiLo) -> dict[str, torch.Tensor]:
    """The same weights under the authors' module names, with frozen CLIP tensors mixed in."""
    theirs = {}
    for key, value in model.trainable_state_dict().items():
        if key.startswith("linear_heads."):
            key = key.replace("linear_heads.", "decoder_linear.")
        elif key.startswith("mmci_heads."):
            _, branch, rest = key.split(".", 2)
            key = f"decoder_cov.{MMCI_AUTHORS_NAMES[branch]}.{rest}"
        elif key.startswith("text."):
            key = key.removeprefix("text.")
        theirs[key] = value.clone()
    for key, value in list(model.clip.state_dict().items())[:5]:
        theirs[f"clip_model.{key}"] = value.clone()
    theirs["text_encoder.positional_embedding"] = model.clip.positional_embedding.clone()
    return theirs


def _outputs(model, images):
    with torch.no_grad():
        return model(images, "wood_grain", positions=["left", None])


def test_round_trip_reproduces_outputs(tmp_path, trained_like_model):
    path = tmp_path / "model.pt"
    save_checkpoint(trained_like_model, path)
    payload = torch.load(path, weights_only=True)
    assert not any(k.startswith("clip.") for k in payload["state_dict"])
    loaded = load_checkpoint(path).eval()
    loaded.prepare("wood_grain", ("knot", "crack"))
    images = torch.randn(2, 3, 64, 64)
    a, b = _outputs(trained_like_model, images), _outputs(loaded, images)
    torch.testing.assert_close(a.anomaly_map, b.anomaly_map, atol=0, rtol=0)
    torch.testing.assert_close(a.score, b.score, atol=0, rtol=0)


def test_authors_format_loads_onto_our_names(tmp_path, trained_like_model, caplog):
    path = tmp_path / "filo_train_on_visa.pth"
    torch.save({"filo": _authors_state_dict(trained_like_model)}, path)
    with caplog.at_level(logging.INFO):
        loaded = load_checkpoint(path, config=preset_config("tiny")).eval()
    assert "ignored 6 frozen CLIP tensors" in caplog.text
    for key, value in trained_like_model.trainable_state_dict().items():
        assert torch.equal(loaded.trainable_state_dict()[key], value), key


def test_authors_format_needs_a_config(tmp_path, trained_like_model):
    path = tmp_path / "theirs.pth"
    torch.save({"filo": _authors_state_dict(trained_like_model)}, path)
    with pytest.raises(FiloError, match="without a config"):
        load_checkpoint(path)


def test_mismatched_keys_are_listed(tmp_path, trained_like_model):
    theirs = _authors_state_dict(trained_like_model)
    del theirs["adapter.fc.0.weight"]
    theirs["decoder_cov.fc_99.0.weight"] = torch.zeros(1)
    theirs["decoder_linear.fc.0.weight"] = torch.zeros(3, 3)
    path = tmp_path / "broken.pth"
    torch.save({"filo": theirs}, path)
    with pytest.raises(FiloError) as error:
        load_checkpoint(path, config=preset_config("tiny"))
    message = str(error.value)
    assert "adapter.fc.0.weight" in message
    assert "decoder_cov.fc_99.0.weight" in message
    assert "linear_heads.fc.0.weight: checkpoint (3, 3)" in message


def test_corrupt_and_foreign_files_are_rejected(tmp_path, trained_like_model):
    good = tmp_path / "good.pt"
    save_checkpoint(trained_like_model, good)
    corrupt = tmp_path / "corrupt.pt"
    corrupt.write_bytes(good.read_bytes()[: len(good.read_bytes()) // 2])
    with pytest.raises(FiloError, match="cannot be read"):
        load_checkpoint(corrupt)
    foreign = tmp_path / "foreign.pt"
    torch.save({"model": {}}, foreign)
    with pytest.raises(FiloError, match="neither a filo checkpoint"):
        load_checkpoint(foreign)
    with pytest.raises(FiloError, match="does not exist"):
        load_checkpoint(tmp_path / "missing.pt")


def test_config_mismatch_is_reported(tmp_path, trained_like_model):
    path = tmp_path / "model.pt"
    save_checkpoint(trained_like_model, path)
    with pytest.raises(FiloError, match="different config"):
        load_checkpoint(path, config=preset_config("tiny", {"n_ctx": 4}))


def test_failed_save_leaves_no_file(tmp_path, trained_like_model, monkeypatch):
    path = tmp_path / "model.pt"

    def explode(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr("filo.io.os.fsync", explode)
    with pytest.raises(OSError):
        save_checkpoint(trained_like_model, path)
    assert list(tmp_path.iterdir()) == []


def test_clip_checkpoint_loads_at_another_image_size(tmp_path):
    small = create_clip(TINY_CLIP_NAME, None, 64, seed=5).model
    path = tmp_path / "tiny_clip.pt"
    torch.save(small.state_dict(), path)
    resized = create_clip(TINY_CLIP_NAME, str(path), 96, weights_tag="custom").model
    assert resized.visual.positional_embedding.shape == (1 + 12 * 12, 96)
    torch.testing.assert_close(resized.visual.conv1.weight, small.visual.conv1.weight)
    torch.testing.assert_close(resized.visual.positional_embedding[0], small.visual.positional_embedding[0])
    images = torch.randn(1, 3, 96, 96)
    assert resized.encode_image(images).shape == (1, 48)


def test_clip_checkpoint_of_another_model_is_rejected(tmp_path):
    path = tmp_path / "wrong.pt"
    torch.save({"visual.proj": torch.zeros(2, 2)}, path)
    with pytest.raises(FiloError, match="does not"):
        create_clip(TINY_CLIP_NAME, str(path), 64, weights_tag="custom")
