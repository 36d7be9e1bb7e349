"""A local CLIP checkpoint is built exactly as the open_clip tag it copies (activation, preprocessing).

The tagged path cannot download here, so it is emulated the way open_clip itself resolves a
tag: its pretrained config gets a `file` entry, which `download_pretrained` returns as is. The
config entries are copies of open_clip's real ones (OpenAI's ViT-L-14-336 with QuickGELU, and
a LAION tag with Inception mean/std), registered on the tiny model so the test stays small.
"""

from __future__ import annotations

import copy

import numpy as np
import open_clip
import pytest
import torch
from PIL import Image

from filo.errors import FiloError
from filo.model.clip_backbone import CUSTOM_WEIGHTS, TINY_CLIP_NAME, create_clip

REAL_TAGS = {
    "openai": ("ViT-L-14-336", "openai"),
    "laion2b_s32b_b82k": ("ViT-L-14", "laion2b_s32b_b82k"),
}


@pytest.fixture
def tiny_weights(tmp_path, monkeypatch):
    """Random tiny CLIP weights saved to a file, and open_clip tags of the tiny model that resolve to it."""
    path = tmp_path / "clip.pt"
    source = create_clip(TINY_CLIP_NAME, None, 64, seed=11).model
    torch.save(source.state_dict(), path)
    tags = {}
    for tag, (model, real_tag) in REAL_TAGS.items():
        tags[tag] = {**copy.deepcopy(open_clip.get_pretrained_cfg(model, real_tag)), "file": str(path)}
    monkeypatch.setitem(open_clip.pretrained._PRETRAINED, TINY_CLIP_NAME, tags)
    return path


def _image() -> Image.Image:
    pixels = np.random.default_rng(0).integers(0, 256, size=(80, 72, 3), dtype=np.uint8)
    return Image.fromarray(pixels)


def _features(bundle) -> torch.Tensor:
    return bundle.model.encode_image(bundle.preprocess(_image()).unsqueeze(0))


def _uses_quick_gelu(model) -> bool:
    return isinstance(model.visual.transformer.resblocks[0].mlp.gelu, open_clip.model.QuickGELU)


def _normalize(bundle):
    return next(step for step in bundle.preprocess.transforms if type(step).__name__ == "Normalize")


@pytest.mark.parametrize("tag", sorted(REAL_TAGS))
def test_local_checkpoint_is_built_as_its_tag(tiny_weights, tag):
    tagged = create_clip(TINY_CLIP_NAME, tag, 64)
    local = create_clip(TINY_CLIP_NAME, str(tiny_weights), 64, weights_tag=tag)
    tag_cfg = open_clip.get_pretrained_cfg(TINY_CLIP_NAME, tag)
    assert _uses_quick_gelu(local.model) == _uses_quick_gelu(tagged.model) == tag_cfg.get("quick_gelu", False)
    assert tuple(_normalize(local).mean) == tuple(_normalize(tagged).mean) == tuple(tag_cfg["mean"])
    assert tuple(_normalize(local).std) == tuple(_normalize(tagged).std) == tuple(tag_cfg["std"])
    torch.testing.assert_close(_features(local), _features(tagged), rtol=0, atol=0)


def test_openai_tag_means_quick_gelu_and_it_changes_the_features(tiny_weights):
    openai = create_clip(TINY_CLIP_NAME, str(tiny_weights), 64, weights_tag="openai")
    custom = create_clip(TINY_CLIP_NAME, str(tiny_weights), 64, weights_tag=CUSTOM_WEIGHTS)
    assert _uses_quick_gelu(openai.model) and not _uses_quick_gelu(custom.model)
    assert not torch.allclose(_features(openai), _features(custom), atol=1e-4)


def test_inception_normalisation_follows_the_tag(tiny_weights):
    laion = create_clip(TINY_CLIP_NAME, str(tiny_weights), 64, weights_tag="laion2b_s32b_b82k")
    openai = create_clip(TINY_CLIP_NAME, str(tiny_weights), 64, weights_tag="openai")
    assert tuple(_normalize(laion).mean) == (0.5, 0.5, 0.5)
    assert tuple(_normalize(laion).mean) != tuple(_normalize(openai).mean)


def test_local_checkpoint_without_a_tag_is_refused(tiny_weights):
    with pytest.raises(FiloError, match="say which open_clip tag.*'openai'"):
        create_clip(TINY_CLIP_NAME, str(tiny_weights), 64)


def test_unknown_weights_tag_lists_the_tags(tiny_weights):
    with pytest.raises(FiloError, match="not a pretrained tag.*laion2b_s32b_b82k"):
        create_clip(TINY_CLIP_NAME, str(tiny_weights), 64, weights_tag="openia")


def test_weights_tag_without_a_local_file_is_refused():
    with pytest.raises(FiloError, match="only applies to a local CLIP checkpoint"):
        create_clip(TINY_CLIP_NAME, None, 64, weights_tag="openai")


def test_openai_torchscript_file_is_refused_with_the_conversion(tmp_path, tiny_weights):
    source = create_clip(TINY_CLIP_NAME, str(tiny_weights), 64, weights_tag="openai").model
    scripted = tmp_path / "ViT-tiny.pt"
    torch.jit.save(torch.jit.trace(source.visual, torch.zeros(1, 3, 64, 64)), scripted)
    with pytest.raises(FiloError, match=r"TorchScript archive .*torch\.jit\.load"):
        create_clip(TINY_CLIP_NAME, str(scripted), 64, weights_tag="openai")
