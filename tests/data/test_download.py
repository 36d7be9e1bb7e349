"""Downloading synthetic stand-ins for the dataset archives from a local HTTP server."""

from __future__ import annotations

import hashlib
import io
import tarfile
from pathlib import Path

import pytest
from http_server import RangeHTTPServer

from filo.data.download import download_dataset, download_file
from filo.data.index import index_dataset
from filo.data.manifest import read_manifest
from filo.data.synthetic import generate_dataset, pack_archive
from filo.errors import FiloError

MVTEC_ARCHIVE = "mvtec_anomaly_detection.tar.xz"
VISA_ARCHIVE = "VisA_20220922.tar"


@pytest.fixture(scope="module")
def archives(tmp_path_factory) -> dict[str, bytes]:
    """Tiny synthetic archives in the real MVTec AD (tar.xz) and VisA (tar) layouts."""
    work = tmp_path_factory.mktemp("archives")
    packed = {}
    for layout, name in (("mvtec", MVTEC_ARCHIVE), ("visa", VISA_ARCHIVE)):
        dataset = generate_dataset(
            layout, work / layout, seed=3, image_size=32, n_train_good=1, n_test_good=1, n_test_per_defect=1
        )
        packed[layout] = pack_archive(dataset, work / name).read_bytes()
    return packed


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def test_mvtec_happy_path_gives_an_indexable_dataset(tmp_path, http_server, archives):
    url = http_server.add(MVTEC_ARCHIVE, archives["mvtec"])
    dataset_dir = download_dataset("mvtec", tmp_path / "data", url=url, sha256=_sha(archives["mvtec"]))
    assert dataset_dir == tmp_path / "data" / "mvtec"
    assert (tmp_path / "data" / MVTEC_ARCHIVE).read_bytes() == archives["mvtec"]
    assert sorted(path.name for path in (tmp_path / "data").iterdir()) == ["mvtec", MVTEC_ARCHIVE]
    index_dataset(dataset_dir, tmp_path / "m.parquet", dataset="synth_mvtec")
    frame = read_manifest(tmp_path / "m.parquet")
    assert set(frame["category"]) == {"woven_fabric", "speckle_stone", "round_part"}
    assert frame.attrs["has_masks"] is True


def test_visa_tar_happy_path(tmp_path, http_server, archives):
    url = http_server.add(VISA_ARCHIVE, archives["visa"])
    dataset_dir = download_dataset("visa", tmp_path, url=url, sha256=_sha(archives["visa"]))
    assert (dataset_dir / "split_csv" / "1cls.csv").is_file()
    result = index_dataset(dataset_dir, tmp_path / "v.parquet", dataset="synth_visa")
    assert result.layout == "visa" and len(result.manifest) > 0


def test_cut_connection_is_resumed_with_range(tmp_path, http_server, archives):
    data = archives["mvtec"]
    url = http_server.add(MVTEC_ARCHIVE, data)
    http_server.cut_after(MVTEC_ARCHIVE, 10_000)
    dest = download_file(url, tmp_path / MVTEC_ARCHIVE, sha256=_sha(data), retry_wait_s=0)
    assert dest.read_bytes() == data
    assert [header for _, header in http_server.requests] == [None, "bytes=10000-"]
    assert not (tmp_path / f"{MVTEC_ARCHIVE}.part").exists()


def test_partial_file_survives_a_failed_run_and_the_next_run_resumes_it(tmp_path, http_server, archives):
    data = archives["mvtec"]
    url = http_server.add(MVTEC_ARCHIVE, data)
    http_server.cut_after(MVTEC_ARCHIVE, 7_000)
    with pytest.raises(
        FiloError, match=r"failed after 1 attempts .*\.part is kept and the next run resumes it"
    ):
        download_file(url, tmp_path / MVTEC_ARCHIVE, sha256=_sha(data), attempts=1)
    assert (tmp_path / f"{MVTEC_ARCHIVE}.part").stat().st_size == 7_000
    assert not (tmp_path / MVTEC_ARCHIVE).exists()
    download_file(url, tmp_path / MVTEC_ARCHIVE, sha256=_sha(data), attempts=1)
    assert (tmp_path / MVTEC_ARCHIVE).read_bytes() == data
    assert http_server.requests[-1][1] == "bytes=7000-"


def test_server_without_range_support_restarts_the_file(tmp_path, archives):
    data = archives["visa"]
    server = RangeHTTPServer(supports_range=False)
    server.start()
    try:
        url = server.add(VISA_ARCHIVE, data)
        (tmp_path / f"{VISA_ARCHIVE}.part").write_bytes(data[:5000])
        download_file(url, tmp_path / VISA_ARCHIVE, sha256=_sha(data))
    finally:
        server.stop()
    assert (tmp_path / VISA_ARCHIVE).read_bytes() == data


def test_complete_part_file_is_verified_without_downloading_again(tmp_path, http_server, archives):
    data = archives["visa"]
    url = http_server.add(VISA_ARCHIVE, data)
    (tmp_path / f"{VISA_ARCHIVE}.part").write_bytes(data)
    download_file(url, tmp_path / VISA_ARCHIVE, sha256=_sha(data))
    assert (tmp_path / VISA_ARCHIVE).read_bytes() == data
    assert http_server.requests == [(f"/{VISA_ARCHIVE}", f"bytes={len(data)}-")]


def test_wrong_checksum_names_file_and_both_hashes_and_keeps_it(tmp_path, http_server, archives):
    data = archives["mvtec"]
    url = http_server.add(MVTEC_ARCHIVE, data)
    expected = "0" * 64
    with pytest.raises(FiloError) as caught:
        download_dataset("mvtec", tmp_path, url=url, sha256=expected)
    message = str(caught.value)
    part = tmp_path / f"{MVTEC_ARCHIVE}.part"
    assert f"SHA-256 mismatch for {part}" in message
    assert f"got {_sha(data)}, expected {expected}" in message
    assert part.read_bytes() == data
    assert not (tmp_path / "mvtec").exists() and not (tmp_path / MVTEC_ARCHIVE).exists()


def test_existing_archive_is_verified_again_and_kept_on_mismatch(tmp_path, http_server, archives):
    url = http_server.add(MVTEC_ARCHIVE, archives["mvtec"])
    (tmp_path / MVTEC_ARCHIVE).write_bytes(b"someone else's file")
    found, expected = _sha(b"someone else's file"), _sha(archives["mvtec"])
    with pytest.raises(
        FiloError, match=f"mismatch for {tmp_path / MVTEC_ARCHIVE} .*got {found}, expected {expected}"
    ):
        download_dataset("mvtec", tmp_path, url=url, sha256=_sha(archives["mvtec"]))
    assert (tmp_path / MVTEC_ARCHIVE).read_bytes() == b"someone else's file"
    assert http_server.requests == []


def test_rerun_is_a_no_op(tmp_path, http_server, archives):
    url = http_server.add(MVTEC_ARCHIVE, archives["mvtec"])
    sha = _sha(archives["mvtec"])
    first = download_dataset("mvtec", tmp_path, url=url, sha256=sha)
    marker_time = (first / ".filo-source.json").stat().st_mtime_ns
    (tmp_path / MVTEC_ARCHIVE).unlink()  # the archive may be deleted once extracted
    assert download_dataset("mvtec", tmp_path, url=url, sha256=sha) == first
    assert len(http_server.requests) == 1
    assert (first / ".filo-source.json").stat().st_mtime_ns == marker_time


def test_malicious_archive_from_the_server_is_refused(tmp_path, http_server):
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as tar:
        info = tarfile.TarInfo("bolt/escape")
        info.type, info.linkname = tarfile.SYMTYPE, "../../../home"
        tar.addfile(info)
    data = buffer.getvalue()
    url = http_server.add(VISA_ARCHIVE, data)
    with pytest.raises(FiloError, match="member 'bolt/escape' is a link pointing outside"):
        download_dataset("visa", tmp_path, url=url, sha256=_sha(data))
    assert sorted(path.name for path in tmp_path.iterdir()) == [VISA_ARCHIVE]


def test_http_errors_and_unknown_datasets(tmp_path, http_server):
    with pytest.raises(FiloError, match="HTTP 404"):
        download_file(f"{http_server.base_url}/missing.tar", tmp_path / "x.tar", sha256="0" * 64)
    with pytest.raises(
        FiloError, match=r"unknown dataset 'imagenet'; downloadable datasets are \['mvtec', 'visa'\]"
    ):
        download_dataset("imagenet", tmp_path)
    assert not Path(tmp_path / "x.tar.part").exists()


def test_foreign_dataset_folder_is_refused_before_downloading(tmp_path, http_server, archives):
    url = http_server.add(MVTEC_ARCHIVE, archives["mvtec"])
    (tmp_path / "mvtec").mkdir()
    with pytest.raises(FiloError, match="mvtec already exists and holds data that filo did not extract"):
        download_dataset("mvtec", tmp_path, url=url, sha256=_sha(archives["mvtec"]))
    assert http_server.requests == []
