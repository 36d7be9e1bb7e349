"""The rehearsal inputs feed the real commands: download over HTTP, and a doctor that finds nothing missing."""

from __future__ import annotations

import pytest
import torch
import yaml

from filo.boxes.tiny import TINY_BERT
from filo.cli import main
from filo.doctor import DoctorSettings, exit_code, run_doctor
from filo.rehearsal import RehearsalSettings, make_rehearsal_inputs, serve_folder

pytestmark = pytest.mark.slow


def test_rehearsal_inputs_download_and_pass_the_doctor(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr("filo.doctor.cuda_status", lambda: ("Fake GPU", True))
    settings = RehearsalSettings(clip_name="filo-tiny", bert=dict(TINY_BERT), bert_vocab_size=None,
                                 image_size=32, n_train_good=1, n_test_good={"mvtec": 1, "visa": 1})
    inputs = make_rehearsal_inputs(tmp_path / "rehearsal", settings)
    assert sorted(inputs.archives) == ["mvtec", "visa"]
    state = torch.load(inputs.detector_checkpoint, weights_only=True)["model"]
    assert any(key.startswith("transformer.decoder.layers.5.") for key in state)  # the full OGC depth
    with serve_folder(inputs.archives["mvtec"].parent) as base_url:
        for name, archive in inputs.archives.items():
            assert main(["data", "download", name, "--root", "data/datasets", "--url", f"{base_url}/{archive.name}",
                         "--sha256", inputs.sha256[name]]) == 0
    params = {
        "datasets": {name: {"layout": name, "source": "download", "sha256": sha256}
                     for name, sha256 in inputs.sha256.items()},
        "detector": {"kind": "grounding_dino", "config": settings.detector_config,
                     "checkpoint": str(inputs.detector_checkpoint), "text_encoder": str(inputs.text_encoder)},
        "train": {"model_preset": "tiny", "model_overrides": {
            "clip_pretrained": str(inputs.clip_checkpoint), "clip_weights_tag": "custom"}},
    }
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(params))
    findings = run_doctor(tmp_path / "params.yaml", DoctorSettings(headroom_gib=0.0))
    problems = [f"{f.check}: {f.detail}" for f in findings if not f.ok and f.blocking]
    assert problems == [] and exit_code(findings) == 0
