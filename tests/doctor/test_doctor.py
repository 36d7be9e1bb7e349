"""`filo doctor` on a fresh checkout (everything missing) and on a complete fake setup of tiny files."""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path

import pytest
import torch
import yaml

from filo.boxes.tiny import CHECKPOINT_FILE, CONFIG_FILE, TEXT_ENCODER_DIR, make_tiny_detector
from filo.cli import main
from filo.data.download import download_dataset
from filo.data.synthetic import generate_dataset, pack_archive
from filo.doctor import DoctorSettings, exit_code, run_doctor
from filo.model.clip_backbone import TINY_CLIP_NAME, create_clip

REPO = Path(__file__).parents[2]
ARCHIVES = {"mvtec": "mvtec_anomaly_detection.tar.xz", "visa": "VisA_20220922.tar"}


@pytest.fixture
def offline(monkeypatch):
    """No network, no Hugging Face cache, no GPU: the state of a fresh clone on this machine."""
    monkeypatch.setattr("filo.preflight.probe_url", lambda url, timeout_s: (False, "offline"))
    monkeypatch.setattr("huggingface_hub.try_to_load_from_cache", lambda *args, **kwargs: None)
    monkeypatch.setattr("filo.doctor.cuda_status", lambda: None)


@pytest.fixture(scope="module")
def detector_dir(tmp_path_factory) -> Path:
    return make_tiny_detector(tmp_path_factory.mktemp("detector") / "tiny")


@pytest.fixture(scope="module")
def archives(tmp_path_factory) -> dict[str, Path]:
    work = tmp_path_factory.mktemp("archives")
    packed = {}
    for name, archive in ARCHIVES.items():
        dataset = generate_dataset(
            name, work / name, seed=1, image_size=32, n_train_good=1, n_test_good=1, n_test_per_defect=1
        )
        packed[name] = pack_archive(dataset, work / archive)
    return packed


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture
def complete(tmp_path, detector_dir, archives, monkeypatch) -> dict:
    """Every input of a run in place, as tiny files; returns the params document (written to params.yaml)."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr("filo.doctor.cuda_status", lambda: ("Fake GPU", True))
    raw = tmp_path / "data" / "datasets"
    raw.mkdir(parents=True)
    download_dataset("mvtec", raw, sha256=_sha(archives["mvtec"]), archive=archives["mvtec"])  # extracted
    shutil.copy(archives["visa"], raw / ARCHIVES["visa"])  # archive only
    clip = tmp_path / "models" / "clip.pt"
    clip.parent.mkdir()
    torch.save(create_clip(TINY_CLIP_NAME, None, 64).model.state_dict(), clip)
    (tmp_path / "cost.json").write_text(json.dumps(
        {"measured_on": "test", "stages": {"evaluate": {"seconds_per_image": 2.0, "images": 1800}}}
    ))
    params = {
        "datasets": {name: {"layout": name, "source": "download", "sha256": _sha(path)}
                     for name, path in archives.items()},
        "detector": {
            "kind": "grounding_dino",
            "config": str(detector_dir / CONFIG_FILE),
            "checkpoint": str(detector_dir / CHECKPOINT_FILE),
            "text_encoder": str(detector_dir / TEXT_ENCODER_DIR),
        },
        "train": {"model_preset": "tiny",
                  "model_overrides": {"clip_pretrained": str(clip), "clip_weights_tag": "custom"}},
    }
    _write(tmp_path / "params.yaml", params)
    return params


def _write(path: Path, params: dict) -> None:
    path.write_text(yaml.safe_dump(params))


def _settings(**overrides) -> DoctorSettings:
    values = {"cost_table": "cost.json", "headroom_gib": 0.0, **overrides}
    return DoctorSettings(**values)


def _by_check(findings) -> dict:
    return {finding.check: finding for finding in findings}


def test_fresh_checkout_lists_everything_missing_and_exits_1(tmp_path, monkeypatch, offline, capsys):
    (tmp_path / "profiles" / "paper").mkdir(parents=True)
    shutil.copy(REPO / "profiles" / "paper" / "params.yaml", tmp_path / "profiles" / "paper" / "params.yaml")
    monkeypatch.chdir(tmp_path)
    assert main(["doctor"]) == 1
    report = capsys.readouterr().out
    for missing in ("dataset mvtec", "dataset visa", "BERT text encoder", "Grounding DINO checkpoint",
                    "CLIP weights ViT-L-14-336", "GPU"):
        assert f"[MISSING] {missing}:" in report
    assert "set datasets.mvtec.archive: FILE" in report and "--archive FILE" in report
    assert "groundingdino_swint_ogc.pth" in report and "bert-base-uncased" in report
    assert "clip_weights_tag: openai" in report
    assert "[warning] expected duration: no cost table" in report


def test_complete_setup_passes(complete):
    findings = run_doctor("params.yaml", _settings())
    assert [f"{f.check}: {f.detail}" for f in findings if not f.ok] == []
    checks = _by_check(findings)
    assert "extracted at data/datasets/mvtec" in checks["dataset mvtec"].detail
    assert "SHA-256 verified" in checks["dataset visa"].detail
    assert "no missing keys" in checks["Grounding DINO checkpoint"].detail
    assert checks["expected duration"].detail.startswith("1.0 h")
    assert exit_code(findings) == 0


def test_wrong_archive_is_reported_with_both_hashes(complete, archives, tmp_path):
    (tmp_path / "data" / "datasets" / ARCHIVES["visa"]).write_bytes(b"half a download")
    finding = _by_check(run_doctor("params.yaml", _settings()))["dataset visa"]
    assert not finding.ok and finding.blocking
    assert hashlib.sha256(b"half a download").hexdigest() in finding.detail and _sha(archives["visa"]) in finding.detail


def test_reachable_url_is_enough_for_a_dataset(complete, tmp_path, http_server):
    (tmp_path / "data" / "datasets" / ARCHIVES["visa"]).unlink()
    complete["datasets"]["visa"]["url"] = http_server.add("visa.tar", b"x" * 1000)
    _write(tmp_path / "params.yaml", complete)
    finding = _by_check(run_doctor("params.yaml", _settings()))["dataset visa"]
    assert finding.ok and "is reachable" in finding.detail
    complete["datasets"]["visa"]["url"] = http_server.base_url + "/nothing-here.tar"
    _write(tmp_path / "params.yaml", complete)
    finding = _by_check(run_doctor("params.yaml", _settings()))["dataset visa"]
    assert not finding.ok and "HTTP 404" in finding.detail and "datasets.visa.archive: FILE" in finding.fix


def test_detector_checkpoint_with_missing_keys_is_refused(complete, detector_dir, tmp_path):
    state = torch.load(detector_dir / CHECKPOINT_FILE, weights_only=True)["model"]
    dropped = sorted(state)[:3]
    partial = tmp_path / "partial.pth"
    torch.save({"model": {key: value for key, value in state.items() if key not in dropped}}, partial)
    complete["detector"]["checkpoint"] = str(partial)
    _write(tmp_path / "params.yaml", complete)
    finding = _by_check(run_doctor("params.yaml", _settings()))["Grounding DINO checkpoint"]
    assert not finding.ok and "3 missing" in finding.detail and dropped[0] in finding.detail


def test_broken_bert_folder_is_reported(complete, tmp_path):
    (tmp_path / "bert").mkdir()
    complete["detector"]["text_encoder"] = str(tmp_path / "bert")
    _write(tmp_path / "params.yaml", complete)
    checks = _by_check(run_doctor("params.yaml", _settings()))
    assert not checks["BERT text encoder"].ok and "does not load" in checks["BERT text encoder"].detail
    assert not checks["Grounding DINO checkpoint"].ok


def test_local_clip_without_its_tag_is_refused(complete, tmp_path):
    del complete["train"]["model_overrides"]["clip_weights_tag"]
    _write(tmp_path / "params.yaml", complete)
    finding = _by_check(run_doctor("params.yaml", _settings()))[f"CLIP weights {TINY_CLIP_NAME}"]
    assert not finding.ok and "say which open_clip tag" in finding.detail


def test_cpu_only_blocks_unless_allowed_and_disk_space_is_checked(complete, monkeypatch):
    monkeypatch.setattr("filo.doctor.cuda_status", lambda: None)
    assert not _by_check(run_doctor("params.yaml", _settings()))["GPU"].ok
    findings = run_doctor("params.yaml", _settings(allow_cpu=True))
    assert exit_code(findings) == 0 and not _by_check(findings)["GPU"].blocking
    findings = run_doctor("params.yaml", _settings(allow_cpu=True, headroom_gib=1e9))
    assert exit_code(findings) == 1 and "free" in _by_check(findings)["disk space"].fix


def test_the_demo_preflight_passes_and_records_the_same_bytes_on_any_machine(tmp_path, monkeypatch, capsys):
    shutil.copy(REPO / "params.yaml", tmp_path / "params.yaml")
    monkeypatch.chdir(tmp_path)
    records = []
    for gpu in (None, ("Fake GPU", True)):
        monkeypatch.setattr("filo.doctor.cuda_status", lambda gpu=gpu: gpu)
        assert main(["doctor", "--params", "params.yaml", "--out", "results/preflight.json"]) == 0
        records.append((tmp_path / "results" / "preflight.json").read_bytes())
    assert records[0] == records[1]
    record = json.loads(records[0])
    assert record["ready"] is True
    assert record["checked"] == ["dataset mvtec", "dataset visa", "Grounding DINO", "CLIP weights filo-tiny"]
    assert "ready: every input of the run is in place" in capsys.readouterr().out


def test_a_failed_preflight_stops_the_pipeline_and_writes_nothing(tmp_path, monkeypatch, offline, capsys):
    shutil.copy(REPO / "profiles" / "paper" / "params.yaml", tmp_path / "params.yaml")
    monkeypatch.chdir(tmp_path)
    assert main(["doctor", "--params", "params.yaml", "--out", "results/preflight.json"]) == 2
    captured = capsys.readouterr()
    assert "[MISSING] Grounding DINO checkpoint:" in captured.out
    assert "preflight failed (dataset mvtec, dataset visa," in captured.err and "nothing was written" in captured.err
    assert not (tmp_path / "results").exists()


def test_expected_duration_sums_the_cost_table(complete, tmp_path):
    (tmp_path / "cost.json").write_text(json.dumps({"measured_on": "test", "stages": {
        "train": {"seconds": 1800.0}, "evaluate": {"seconds_per_image": 2.0, "images": 900}}}))
    finding = _by_check(run_doctor("params.yaml", _settings()))["expected duration"]
    assert finding.ok and finding.detail.startswith("1.0 h as measured on test")
