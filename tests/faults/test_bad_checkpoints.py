"""Damaged checkpoints, training states and registry bundles are refused at load; the authors' files still load."""

from __future__ import annotations

import logging
import shutil

import pytest
import torch

from filo.cli import main
from filo.errors import FiloError
from filo.model.checkpoint import load_checkpoint, read_payload
from filo.model.config import preset_config
from filo.model.filo import FiLo
from filo.registry.bundle import DirectionFiles, inspect_direction, read_bundle, write_bundle
from filo.training.determinism import capture_rng_state
from filo.training.state import TrainingState, load_training_state, save_training_state

from .builders import CATEGORY, flip_tensor_bytes

AUTHORS_MMCI = {"conv1x1": "fc_11", "conv3x3": "fc_33", "conv5x5": "fc_55",
                "conv7x7": "fc_77", "conv1x5": "fc_15", "conv5x1": "fc_51"}


@pytest.fixture
def damaged_model(tiny_project, tmp_path):
    path = tmp_path / "damaged.pt"
    shutil.copy(tiny_project.model, path)
    flip_tensor_bytes(path)
    return path


def test_a_checkpoint_with_flipped_tensor_bytes_is_refused(tiny_project, damaged_model):
    assert torch.load(damaged_model, weights_only=True)["state_dict"]  # torch alone reads it without a word
    load_checkpoint(tiny_project.model)
    with pytest.raises(FiloError, match=r"checkpoint .*damaged.pt is corrupt: its contents do not match"):
        load_checkpoint(damaged_model)


def test_evaluate_and_predict_refuse_a_damaged_checkpoint_in_one_line(tiny_project, damaged_model, tmp_path, capsys):
    code = main(["evaluate", "--model", str(damaged_model), "--manifest", str(tiny_project.manifest),
                 "--descriptions", str(tiny_project.descriptions), "--out-dir", str(tmp_path / "results")])
    error = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and "is corrupt" in error[-1]
    assert not (tmp_path / "results").exists()
    image = next((tiny_project.data / CATEGORY / "test" / "good").glob("*.png"))
    code = main(["predict", str(image), "--category", CATEGORY, "--model", str(damaged_model),
                 "--descriptions", str(tiny_project.descriptions), "--out-dir", str(tmp_path / "out")])
    assert code == 2 and "is corrupt" in capsys.readouterr().err


def test_a_damaged_training_state_is_refused_on_resume(tmp_path):
    model = torch.nn.Linear(64, 64)
    optimizer = torch.optim.AdamW(model.parameters())
    model(torch.randn(2, 64)).sum().backward()
    optimizer.step()
    state = TrainingState(fingerprint={"params": {"seed": 0}}, phase="prompts", epochs_done=1,
                          model=model.state_dict(), optimizer=optimizer.state_dict(), rng=capture_rng_state(),
                          history=[{"phase": "prompts", "epoch": 1, "loss": 0.5}], mlflow_run_id="abc")
    path = tmp_path / "out.pt.train" / "last.pt"
    save_training_state(state, path)
    loaded = load_training_state(path, state.fingerprint)
    assert torch.equal(loaded.model["weight"], model.weight) and loaded.optimizer["state"][0]["step"] == 1
    flip_tensor_bytes(path)
    with pytest.raises(FiloError, match=r"training state .*last.pt is corrupt.*delete .*out.pt.train"):
        load_training_state(path, state.fingerprint)


def test_a_registry_bundle_refuses_any_changed_file(tiny_project, evaluated, tmp_path):
    files = DirectionFiles(tiny_project.model, evaluated / "metrics.json", evaluated / "verdict.json",
                           tiny_project.descriptions)
    bundle = write_bundle([inspect_direction(files)], tmp_path / "bundle").root
    for role in ("checkpoint", "metrics"):
        copy = shutil.copytree(bundle, tmp_path / f"bundle-{role}")
        target = read_bundle(copy).directions[next(iter(read_bundle(copy).directions))].files.as_dict()[role]
        if role == "checkpoint":
            flip_tensor_bytes(target)
        else:
            target.write_text(target.read_text() + "\n")  # still valid JSON, other bytes
        with pytest.raises(FiloError, match=rf"bundle files \['.*{target.name}'\] do not match the SHA-256"):
            read_bundle(copy)


def test_the_authors_released_format_loads_without_a_hash(tmp_path):
    config = preset_config("tiny")
    ours = FiLo(config)
    theirs = {}
    for key, value in ours.trainable_state_dict().items():
        if key.startswith("linear_heads."):
            key = key.replace("linear_heads.", "decoder_linear.")
        elif key.startswith("mmci_heads."):
            _, branch, rest = key.split(".", 2)
            key = f"decoder_cov.{AUTHORS_MMCI[branch]}.{rest}"
        elif key.startswith("text."):
            key = key.removeprefix("text.")
        theirs[key] = value.clone()
    path = tmp_path / "filo_train_on_visa.pth"
    torch.save({"filo": theirs}, path)
    loaded = load_checkpoint(path, config=config)
    for key, value in ours.trainable_state_dict().items():
        assert torch.equal(loaded.trainable_state_dict()[key], value)


def test_a_checkpoint_from_before_hashes_loads_with_a_warning(tiny_project, tmp_path, caplog):
    payload = read_payload(tiny_project.model)
    payload["version"] = 1
    legacy = tmp_path / "legacy.pt"
    torch.save(payload, legacy)
    with caplog.at_level(logging.WARNING):
        load_checkpoint(legacy)
    assert "written before content hashes" in caplog.text
