"""Scoring does not depend on the batch size; bf16 autocast runs and stays close to fp32."""

from __future__ import annotations

import numpy as np
import pytest

from filo.boxes.source import ArtifactBoxes
from filo.data.manifest import read_manifest
from filo.descriptions import load_descriptions
from filo.evaluation.scoring import score_manifest
from filo.model.checkpoint import load_checkpoint


@pytest.fixture(scope="module")
def scoring_inputs(tiny_inputs):
    return (load_checkpoint(tiny_inputs.model), read_manifest(tiny_inputs.manifest),
            load_descriptions(tiny_inputs.descriptions), ArtifactBoxes.load(tiny_inputs.boxes))


def _score(scoring_inputs, **kwargs):
    model, manifest, descriptions, boxes = scoring_inputs
    return score_manifest(model, manifest, descriptions, boxes=boxes, **kwargs)


def test_outputs_do_not_depend_on_the_batch_size(scoring_inputs):
    one = _score(scoring_inputs, batch_size=1)
    for batch_size in (5,):  # an uneven last batch
        other = _score(scoring_inputs, batch_size=batch_size)
        np.testing.assert_allclose(other.anomaly_maps, one.anomaly_maps, rtol=0, atol=1e-6)
        np.testing.assert_allclose(other.table["score"], one.table["score"], rtol=0, atol=1e-6)
        assert other.table["image_id"].tolist() == one.table["image_id"].tolist()
        assert other.table["top_descriptions"].tolist() == one.table["top_descriptions"].tolist()


def test_bf16_autocast_changes_maps_only_slightly(scoring_inputs):
    fp32 = _score(scoring_inputs, batch_size=4)
    bf16 = _score(scoring_inputs, batch_size=4, precision="bf16")
    difference = np.abs(bf16.anomaly_maps - fp32.anomaly_maps).max()
    assert 0 < difference < 0.05  # bf16 keeps 8 bits of mantissa: different, but close
