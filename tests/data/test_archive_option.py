"""`filo data download --archive FILE`: a user's own copy, verified and extracted, never changed or copied."""

from __future__ import annotations

import errno
import hashlib
import os
from pathlib import Path

import pytest

from filo.cli import main
from filo.data.download import download_dataset
from filo.data.extract import read_marker
from filo.data.synthetic import generate_dataset, pack_archive
from filo.errors import FiloError

MVTEC_ARCHIVE = "mvtec_anomaly_detection.tar.xz"


@pytest.fixture(scope="module")
def user_archive(tmp_path_factory) -> Path:
    """A synthetic MVTec AD-layout archive in a 'Downloads' folder, read-only as a careful user keeps it."""
    work = tmp_path_factory.mktemp("downloads")
    dataset = generate_dataset(
        "mvtec", work / "made", seed=4, image_size=32, n_train_good=1, n_test_good=1, n_test_per_defect=1
    )
    archive = pack_archive(dataset, work / MVTEC_ARCHIVE)
    archive.chmod(0o444)
    return archive


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _fingerprint(path: Path) -> tuple:
    stat = path.stat()
    return _sha(path), stat.st_mtime_ns, stat.st_mode, stat.st_size


def test_archive_is_verified_hard_linked_and_extracted_without_change(tmp_path, user_archive):
    before = _fingerprint(user_archive)
    root = tmp_path / "data"
    assert main(["data", "download", "mvtec", "--root", str(root), "--archive", str(user_archive),
                 "--sha256", before[0]]) == 0
    assert _fingerprint(user_archive) == before
    linked = root / MVTEC_ARCHIVE
    assert linked.samefile(user_archive)  # a hard link: no bytes copied
    assert read_marker(root / "mvtec") == before[0]
    categories = sorted(path.name for path in (root / "mvtec").iterdir() if not path.name.startswith("."))
    assert categories == ["round_part", "speckle_stone", "woven_fabric"]
    assert (root / "mvtec" / "woven_fabric" / "train" / "good").is_dir()


def test_without_a_hard_link_the_archive_is_extracted_in_place(tmp_path, user_archive, monkeypatch):
    def cross_device(source, target):
        raise OSError(errno.EXDEV, "Invalid cross-device link", str(target))

    monkeypatch.setattr("filo.data.download.os.link", cross_device)
    before = _fingerprint(user_archive)
    dataset_dir = download_dataset("mvtec", tmp_path, sha256=before[0], archive=user_archive)
    assert _fingerprint(user_archive) == before
    assert not (tmp_path / MVTEC_ARCHIVE).exists()  # not copied
    assert read_marker(dataset_dir) == before[0]
    assert (dataset_dir / "woven_fabric" / "test").is_dir()


def test_wrong_checksum_is_refused_and_nothing_is_extracted(tmp_path, user_archive):
    before = _fingerprint(user_archive)
    with pytest.raises(FiloError, match=rf"SHA-256 mismatch for --archive {user_archive}: got {before[0]}"):
        download_dataset("mvtec", tmp_path, archive=user_archive)  # the official checksum
    assert _fingerprint(user_archive) == before
    assert list(tmp_path.iterdir()) == []


def test_corrupted_archive_is_refused(tmp_path, user_archive):
    damaged = tmp_path / "damaged.tar.xz"
    data = bytearray(user_archive.read_bytes())
    data[len(data) // 2] ^= 0xFF
    damaged.write_bytes(bytes(data))
    with pytest.raises(FiloError, match="SHA-256 mismatch"):
        download_dataset("mvtec", tmp_path / "data", sha256=_sha(user_archive), archive=damaged)
    assert not (tmp_path / "data" / "mvtec").exists()


def test_a_wrong_file_already_in_the_root_is_reported_not_replaced(tmp_path, user_archive):
    stale = tmp_path / MVTEC_ARCHIVE
    stale.write_bytes(b"an interrupted copy")
    with pytest.raises(FiloError, match=rf"SHA-256 mismatch for {stale}, already in the dataset root"):
        download_dataset("mvtec", tmp_path, sha256=_sha(user_archive), archive=user_archive)
    assert stale.read_bytes() == b"an interrupted copy"


def test_second_run_is_a_no_op(tmp_path, user_archive):
    sha = _sha(user_archive)
    first = download_dataset("mvtec", tmp_path, sha256=sha, archive=user_archive)
    mtime = os.stat(first).st_mtime_ns
    assert download_dataset("mvtec", tmp_path, sha256=sha, archive=user_archive) == first
    assert os.stat(first).st_mtime_ns == mtime


def test_url_and_archive_together_are_refused(tmp_path, user_archive):
    with pytest.raises(FiloError, match="either --url or --archive"):
        download_dataset("mvtec", tmp_path, url="http://127.0.0.1:1/x", archive=user_archive)


def test_missing_archive_is_named(tmp_path):
    with pytest.raises(FiloError, match=r"--archive .*nowhere\.tar\.xz is not a file"):
        download_dataset("mvtec", tmp_path, archive=tmp_path / "nowhere.tar.xz")
