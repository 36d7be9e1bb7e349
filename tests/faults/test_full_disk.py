"""A full disk: one line naming the path and the space needed, nothing half-written, and checks before long work."""

from __future__ import annotations

import errno
import os

import mlflow
import pyarrow.parquet as pq
import pytest

import filo.io
from filo.boxes.extract import extract_boxes
from filo.cli import main
from filo.errors import FiloError
from filo.io import DiskFullError, atomic_write_bytes, atomic_write_text
from filo.training.params import TrainParams
from filo.training.state import training_state_path
from filo.training.trainer import train

from .builders import CATEGORY, CountingDetector


def _no_space(*args, **kwargs):
    raise OSError(errno.ENOSPC, "No space left on device")


def _one_line(text: str) -> str:
    lines = [line for line in text.splitlines() if line.startswith("filo ")]
    assert len(lines) == 1 and "Traceback" not in text, text
    return lines[0]


def test_a_write_that_fills_the_disk_names_the_path_and_keeps_the_old_file(tmp_path, monkeypatch):
    target = tmp_path / "out.json"
    atomic_write_text(target, "old")
    monkeypatch.setattr(filo.io.os, "fsync", _no_space)
    with pytest.raises(DiskFullError, match=r"no space left on the device to write .*out.json: 3 B needed, "
                                            r".* free there; free some space"):
        atomic_write_bytes(target, b"new")
    assert target.read_text() == "old"
    assert os.listdir(tmp_path) == ["out.json"]


def test_a_write_larger_than_the_free_space_fails_before_writing(tmp_path, monkeypatch):
    monkeypatch.setattr(filo.io, "free_bytes", lambda path: 1000)
    with pytest.raises(DiskFullError, match=r"not enough free space for .*big.bin.* 2.0 KB needed, 1.0 KB free"):
        atomic_write_bytes(tmp_path / "big.bin", b"x" * 2000)
    assert not os.listdir(tmp_path)


def test_data_index_on_a_full_disk_prints_one_line(tiny_project, tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(pq, "write_table", _no_space)
    out = tmp_path / "manifest.parquet"
    code = main(["data", "index", "--name", "synth", "--root", str(tiny_project.data), "--out", str(out)])
    line = _one_line(capsys.readouterr().err)
    assert code == 2 and f"to write {out}: it needs more than the " in line and "free there" in line
    assert not os.listdir(tmp_path)


def test_evaluate_on_a_full_disk_prints_one_line_and_records_a_failed_run(tiny_project, tmp_path, monkeypatch,
                                                                          capsys):
    monkeypatch.setattr(pq, "write_table", _no_space)
    out = tmp_path / "results"
    code = main(["evaluate", "--model", str(tiny_project.model), "--manifest", str(tiny_project.manifest),
                 "--descriptions", str(tiny_project.descriptions), "--out-dir", str(out)])
    line = _one_line(capsys.readouterr().err)
    assert code == 2 and f"to write {out}:" in line
    assert not out.exists() and not any(name.startswith(".results.") for name in os.listdir(tmp_path))
    runs = mlflow.search_runs(search_all_experiments=True)
    assert runs["status"].tolist() == ["FAILED"]


def test_predict_on_a_full_disk_prints_one_line(tiny_project, tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(filo.io.os, "fsync", _no_space)
    image = next((tiny_project.data / CATEGORY / "test" / "good").glob("*.png"))
    code = main(["predict", str(image), "--category", CATEGORY, "--model", str(tiny_project.model),
                 "--descriptions", str(tiny_project.descriptions), "--out-dir", str(tmp_path / "out")])
    line = _one_line(capsys.readouterr().err)
    assert code == 2 and f"to write {tmp_path / 'out'}" in line


def test_a_bare_disk_full_error_outside_filo_writers_is_one_line_too(tiny_project, tmp_path, monkeypatch, capsys):
    def fail(*args, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device", str(tmp_path / "somewhere.bin"))

    monkeypatch.setattr("filo.data.index.scan_dataset", fail)
    code = main(["data", "index", "--name", "synth", "--root", str(tiny_project.data),
                 "--out", str(tmp_path / "m.parquet")])
    assert code == 2 and "to write " + str(tmp_path / "somewhere.bin") in _one_line(capsys.readouterr().err)


def test_train_checks_the_space_for_its_state_before_the_first_epoch(tiny_project, tmp_path, monkeypatch):
    monkeypatch.setattr(filo.io, "free_bytes", lambda path: 10_000)
    out = tmp_path / "model.pt"
    with pytest.raises(DiskFullError, match=r"not enough free space for the training state and the checkpoint at "
                                            rf"{tmp_path}: about .* needed, 10.0 KB free"):
        train(tiny_project.manifest, tiny_project.descriptions, out,
              TrainParams(model_preset="tiny", epochs=1, adapter_epochs=1, mlflow=False, progress=False))
    assert not out.exists() and not training_state_path(out).exists()


def test_boxes_stop_after_the_first_shard_when_the_rest_cannot_fit(tiny_project, tmp_path, monkeypatch):
    real_free = filo.io.free_bytes
    shards = tmp_path / "boxes.parquet.shards"
    monkeypatch.setattr(filo.io, "free_bytes",  # the disk fills up as soon as the first shard is written
                        lambda path: 100 if any(shards.glob("shard-*")) else real_free(path))
    detector = CountingDetector()
    with pytest.raises(DiskFullError, match=r"not enough free space for the box shards of \d+ more images"):
        extract_boxes(tiny_project.manifest, tiny_project.descriptions, tmp_path / "boxes.parquet", detector,
                      batch_size=1, shard_size=1)
    assert detector.images_seen == 1
    monkeypatch.setattr(filo.io, "free_bytes", real_free)
    extract_boxes(tiny_project.manifest, tiny_project.descriptions, tmp_path / "boxes.parquet", detector,
                  batch_size=1, shard_size=1)
    assert pq.read_table(tmp_path / "boxes.parquet").num_rows >= 1


def test_filo_error_is_the_base_of_disk_full():
    assert issubclass(DiskFullError, FiloError)


@pytest.fixture
def tiny_file_system(tmp_path):
    """A real 64 KiB tmpfs (needs root; skipped elsewhere, the monkeypatched tests above cover the logic)."""
    import shutil
    import subprocess

    mount = tmp_path / "tiny"
    mount.mkdir()
    if os.geteuid() != 0 or shutil.which("mount") is None or subprocess.run(
            ["mount", "-t", "tmpfs", "-o", "size=64k", "tmpfs", str(mount)], check=False, capture_output=True).returncode:
        pytest.skip("mounting a tiny tmpfs needs root")
    yield mount
    subprocess.run(["umount", str(mount)], check=True)


@pytest.mark.slow
def test_evaluate_on_a_really_full_file_system(tiny_project, tiny_file_system, capsys):
    out = tiny_file_system / "results"
    code = main(["evaluate", "--model", str(tiny_project.model), "--manifest", str(tiny_project.manifest),
                 "--descriptions", str(tiny_project.descriptions), "--out-dir", str(out)])
    line = _one_line(capsys.readouterr().err)
    assert code == 2 and f"no space left on the device to write {out}:" in line
    assert os.listdir(tiny_file_system) == []
