"""The assembled FiLo model on the tiny CLIP: shapes, exactness of speed-ups, training hygiene."""

from __future__ import annotations

import pytest
import torch

from filo.model.config import preset_config
from filo.model.filo import FiLo
from filo.model.maps import stack_text_features

DESCRIPTIONS = ("thin scratch", "branching crack", "small hole")


@pytest.fixture(scope="module")
def model():
    torch.manual_seed(0)
    filo = FiLo(preset_config("tiny"))
    filo.prepare("round_part", DESCRIPTIONS)
    return filo.eval()


@pytest.fixture(scope="module")
def images():
    return torch.randn(2, 3, 64, 64, generator=torch.Generator().manual_seed(1))


@torch.no_grad()
def test_forward_shapes_and_ranges(model, images):
    out = model(images, "round_part", positions=["top left", None])
    assert out.global_similarities.shape == (2, 2)
    assert len(out.layer_maps) == 7
    assert all(m.shape == (2, 2, 64, 64) for m in out.layer_maps)
    assert out.anomaly_map.shape == (2, 64, 64)
    assert torch.all((out.anomaly_map >= 0) & (out.anomaly_map <= 1))
    assert out.score.shape == (2,)
    expected_score = (out.global_similarities[:, 1] + out.anomaly_map.flatten(1).max(1).values) / 2
    torch.testing.assert_close(out.score, expected_score)


@torch.no_grad()
def test_optimized_forward_equals_naive(images):
    torch.manual_seed(0)
    fast = FiLo(preset_config("tiny"))
    torch.manual_seed(0)
    naive = FiLo(preset_config("tiny", {"fold_mmci": False, "optimized_text": False}))
    for m in (fast, naive):
        m.prepare("round_part", DESCRIPTIONS)
        m.eval()
    naive.load_state_dict(fast.state_dict())
    for positions in (None, ["center", "bottom right"]):
        a = fast(images, "round_part", positions=positions)
        b = naive(images, "round_part", positions=positions)
        assert (a.anomaly_map - b.anomaly_map).abs().max() <= 1e-5
        assert (a.score - b.score).abs().max() <= 1e-5


@torch.no_grad()
def test_predict_applies_boxes_and_reports_descriptions(model, images):
    keep = torch.zeros(2, 64, 64, dtype=torch.bool)
    keep[:, 10:30, 10:30] = True
    plain = model(images, "round_part")
    prediction = model.predict(images, "round_part", keep_masks=keep)
    torch.testing.assert_close(prediction.anomaly_map[keep], plain.anomaly_map[keep])
    torch.testing.assert_close(prediction.anomaly_map[~keep], plain.anomaly_map[~keep] * 0.7)
    torch.testing.assert_close(prediction.score, plain.score)
    assert [len(top) for top in prediction.top_descriptions] == [3, 3]
    for top in prediction.top_descriptions:
        assert {name for name, _ in top} == set(DESCRIPTIONS)
        similarities = [value for _, value in top]
        assert similarities == sorted(similarities, reverse=True)


def test_phase_one_gradients_reach_only_heads_and_prompt_learners(images):
    torch.manual_seed(0)
    filo = FiLo(preset_config("tiny"))
    filo.prepare("round_part", DESCRIPTIONS)
    filo.train()
    assert not filo.clip.training
    out = filo(images, "round_part", use_adapter=False)
    sum(m[:, 1].mean() for m in out.layer_maps).backward()
    for name, parameter in filo.named_parameters():
        if name.startswith(("clip.", "adapter.")):
            assert parameter.grad is None, name
        elif ".ctx" in name or "heads" in name or "meta_net" in name:
            assert parameter.grad is not None, name


def test_phase_two_gradients_reach_the_adapter(images):
    torch.manual_seed(0)
    filo = FiLo(preset_config("tiny"))
    filo.prepare("round_part", DESCRIPTIONS)
    out = filo(images, "round_part", use_adapter=True, compute_maps=False)
    assert out.layer_maps is None
    out.global_similarities[:, 1].sum().backward()
    assert all(p.grad is not None for p in filo.adapter.parameters())


def test_trainable_state_dict_excludes_clip(model):
    keys = model.trainable_state_dict().keys()
    assert keys and not any(k.startswith("clip.") for k in keys)
    assert {k.split(".")[0] for k in keys} == {"text", "linear_heads", "mmci_heads", "adapter"}


@torch.no_grad()
def test_text_features_joint_norm_is_sqrt_two(model, images):
    out = model(images, "round_part", compute_maps=False)
    normal, abnormal = model.text(out.image_features, "round_part")
    stacked = stack_text_features(normal, abnormal)
    torch.testing.assert_close(stacked.flatten(1).norm(dim=1), torch.ones(2))


def test_preprocess_follows_the_configured_resize_mode(model):
    import numpy as np
    import open_clip
    from PIL import Image

    image = Image.fromarray(np.random.default_rng(0).integers(0, 256, (30, 50, 3), np.uint8))
    squashed = open_clip.image_transform(64, is_train=False, resize_mode="squash")(image)
    torch.testing.assert_close(model.preprocess(image), squashed)
    shortest = FiLo(preset_config("tiny", {"resize_mode": "shortest"})).preprocess(image)
    assert not torch.allclose(shortest, squashed)


@torch.no_grad()
def test_authors_conditioning_config_scores_every_image_against_the_first_images_text(model, images):
    torch.manual_seed(0)
    authors = FiLo(preset_config("tiny", {"conditioning": "authors"}))
    authors.prepare("round_part", DESCRIPTIONS)
    authors.load_state_dict(model.state_dict())
    authors.eval()
    out = authors(images, "round_part")
    first_text = stack_text_features(*model.text(out.image_features[:1], "round_part"))
    expected = (out.image_features[:, None, :] * first_text).sum(-1)
    torch.testing.assert_close(out.global_similarities, expected)
    alone = [model(images[i : i + 1], "round_part") for i in range(2)]
    torch.testing.assert_close(authors(images[:1], "round_part").anomaly_map, alone[0].anomaly_map)
    assert (out.global_similarities[1] - alone[1].global_similarities[0]).abs().max() > 1e-5
