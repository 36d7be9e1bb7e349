"""Packing synthetic datasets like the real archives: root-level members, deterministic, atomic."""

from __future__ import annotations

import tarfile
from pathlib import Path

import pytest

from filo.data.synthetic import generate_dataset, pack_archive
from filo.errors import FiloError
from filo.io import sha256_file


@pytest.fixture(scope="module")
def visa_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return generate_dataset("visa", tmp_path_factory.mktemp("synth") / "visa", seed=0,
                            categories=["trace_board", "grid_mesh"], image_size=32,
                            n_train_good=1, n_test_good=1, n_test_per_defect=1)


@pytest.mark.parametrize("suffix", [".tar", ".tar.xz"])
def test_archive_is_deterministic_and_holds_the_dataset_at_its_root(suffix: str, visa_root: Path,
                                                                    tmp_path: Path) -> None:
    first = pack_archive(visa_root, tmp_path / f"a{suffix}")
    second = pack_archive(visa_root, tmp_path / f"b{suffix}")
    assert sha256_file(first) == sha256_file(second)
    with tarfile.open(first) as tar:
        members = tar.getmembers()
        assert {member.name.split("/")[0] for member in members} == {"trace_board", "grid_mesh", "split_csv"}
        assert [member.name for member in members] == sorted(member.name for member in members)
        assert all(member.mtime == 0 and member.uid == 0 and (member.isdir() or member.isfile())
                   for member in members)
        tar.extractall(tmp_path / "extracted", filter="data")
    files = sorted(path.relative_to(visa_root) for path in visa_root.rglob("*") if path.is_file())
    assert files == sorted(path.relative_to(tmp_path / "extracted")
                           for path in (tmp_path / "extracted").rglob("*") if path.is_file())
    for relative in files:
        assert sha256_file(visa_root / relative) == sha256_file(tmp_path / "extracted" / relative)


def test_xz_archive_is_compressed(visa_root: Path, tmp_path: Path) -> None:
    pack_archive(visa_root, tmp_path / "data.tar.xz")
    assert (tmp_path / "data.tar.xz").read_bytes()[:6] == b"\xfd7zXZ\x00"


def test_bad_archive_name_or_source_is_explained(visa_root: Path, tmp_path: Path) -> None:
    with pytest.raises(FiloError, match=r"must end in \.tar\.xz or \.tar"):
        pack_archive(visa_root, tmp_path / "data.zip")
    with pytest.raises(FiloError, match="not a folder"):
        pack_archive(tmp_path / "missing", tmp_path / "data.tar")
    assert sorted(path.name for path in tmp_path.iterdir()) == []


def test_a_failed_pack_keeps_the_previous_archive(visa_root: Path, tmp_path: Path) -> None:
    archive = pack_archive(visa_root, tmp_path / "data.tar")
    before = sha256_file(archive)
    (visa_root.parent / "link_target").write_text("x")
    link = visa_root / "trace_board" / "link"
    link.symlink_to(visa_root.parent / "link_target")
    try:
        with pytest.raises(FiloError, match="only regular files and folders"):
            pack_archive(visa_root, archive)
    finally:
        link.unlink()
    assert sha256_file(archive) == before
    assert [path.name for path in tmp_path.iterdir()] == ["data.tar"]
