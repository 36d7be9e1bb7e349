"""Paper-scale shapes stay covered: ViT-L-14-336 at 518 px (37x37 tokens), one image.

One training step of each phase and the evaluation forward, on the paper architecture
with random CLIP weights (the weights do not change the shapes). Slow: about a minute
per step on a 2-core CPU.
"""

from __future__ import annotations

import pytest
import torch

from filo.model.config import preset_config
from filo.model.filo import FiLo
from filo.training.params import TrainParams
from filo.training.phases import make_optimizer, train_only, trained_parameters, training_phases

pytestmark = pytest.mark.slow

SIZE = 518
GRID = 37
DESCRIPTIONS = ("cracked large", "dented small", "leaking")


@pytest.fixture(scope="module")
def paper_model() -> FiLo:
    torch.manual_seed(0)
    model = FiLo(preset_config("paper", {"clip_pretrained": None}))
    model.prepare("bottle", DESCRIPTIONS)
    return model


def _batch() -> dict:
    image = torch.randn(1, 3, SIZE, SIZE, generator=torch.Generator().manual_seed(1))
    mask = torch.zeros(1, 1, SIZE, SIZE)
    mask[..., 200:260, 220:300] = 1.0
    return {"image": image, "mask": mask, "category": ["bottle"], "label": [1]}


def test_config_is_the_paper_architecture(paper_model):
    assert paper_model.config.clip_name == "ViT-L-14-336" and paper_model.config.image_size == SIZE
    assert tuple(paper_model.clip.visual.grid_size) == (GRID, GRID)


@pytest.mark.parametrize("phase_index", [0, 1], ids=["prompt", "adapter"])
def test_one_training_step_updates_only_its_phase(paper_model, phase_index):
    phase = training_phases(TrainParams())[phase_index]
    groups = phase.param_groups(paper_model)
    trained = trained_parameters(groups)
    train_only(paper_model, trained)
    paper_model.train()
    before = [parameter.detach().clone() for parameter in trained]
    clip_before = paper_model.clip.visual.conv1.weight.detach().clone()
    optimizer = make_optimizer(groups, TrainParams())
    loss = phase.loss(paper_model, _batch(), torch.device("cpu"))
    assert loss.ndim == 0 and torch.isfinite(loss)
    loss.backward()
    optimizer.step()
    paper_model.eval()
    assert any(not torch.equal(b, p) for b, p in zip(before, trained))
    assert torch.equal(paper_model.clip.visual.conv1.weight, clip_before)
    assert paper_model.clip.visual.conv1.weight.grad is None


def test_evaluation_forward_at_paper_shapes(paper_model):
    keep = torch.zeros(2, SIZE, SIZE, dtype=torch.bool)
    keep[:, 100:400, 100:400] = True
    images = torch.randn(2, 3, SIZE, SIZE, generator=torch.Generator().manual_seed(2))
    prediction = paper_model.eval().predict(images, "bottle", positions=["center", None], keep_masks=keep)
    assert prediction.anomaly_map.shape == (2, SIZE, SIZE) and prediction.score.shape == (2,)
    assert torch.isfinite(prediction.anomaly_map).all() and torch.isfinite(prediction.score).all()
    assert len(prediction.top_descriptions[0]) == 3
