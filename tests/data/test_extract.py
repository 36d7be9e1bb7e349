"""Safe extraction: malicious members are refused by name, extraction is all-or-nothing, re-runs are no-ops."""

from __future__ import annotations

import io
import tarfile
from pathlib import Path

import pytest

from filo.data import extract as extract_module
from filo.data.extract import MARKER_NAME, extract_archive, read_marker, unsafe_member_reason
from filo.errors import FiloError

SHA = "ab" * 32


def _tar(path: Path, members: list[tuple[tarfile.TarInfo, bytes | None]], mode: str = "w") -> Path:
    with tarfile.open(path, mode) as tar:
        for info, data in members:
            if data is not None:
                info.size = len(data)
            tar.addfile(info, io.BytesIO(data) if data is not None else None)
    return path


def _file(name: str, data: bytes = b"pixels") -> tuple[tarfile.TarInfo, bytes]:
    return tarfile.TarInfo(name), data


def _special(name: str, kind: bytes, linkname: str = "") -> tuple[tarfile.TarInfo, None]:
    info = tarfile.TarInfo(name)
    info.type = kind
    info.linkname = linkname
    return info, None


def _leftovers(folder: Path) -> list[str]:
    return sorted(path.name for path in folder.iterdir())


def test_regular_archive_is_extracted_with_its_marker(tmp_path):
    archive = _tar(
        tmp_path / "ok.tar.xz", [_file("bolt/train/good/000.png"), _file("readme.txt", b"hi")], "w:xz"
    )
    out = extract_archive(archive, tmp_path / "mvtec", sha256=SHA)
    assert (out / "bolt/train/good/000.png").read_bytes() == b"pixels"
    assert read_marker(out) == SHA
    assert _leftovers(tmp_path) == ["mvtec", "ok.tar.xz"]


@pytest.mark.parametrize(
    ("member", "reason"),
    [
        (_file("../evil.txt"), "climbs out of the archive root"),
        (_file("bolt/../../evil.txt"), "climbs out of the archive root"),
        (_file("/tmp/evil.txt"), "absolute path"),
        (_special("bolt/link", tarfile.SYMTYPE, "../../outside"), "link pointing outside"),
        (_special("bolt/abs_link", tarfile.SYMTYPE, "/etc/passwd"), "link pointing outside"),
        (_special("bolt/hard", tarfile.LNKTYPE, "../outside"), "link pointing outside"),
        (_special("bolt/tty", tarfile.CHRTYPE), "device file"),
        (_special("bolt/disk", tarfile.BLKTYPE), "device file"),
        (_special("bolt/pipe", tarfile.FIFOTYPE), "device file or FIFO"),
    ],
)
def test_malicious_members_are_refused_by_name_and_nothing_is_left(tmp_path, member, reason):
    archive = _tar(tmp_path / "bad.tar", [_file("bolt/train/good/000.png"), member, _file("bolt/after.png")])
    with pytest.raises(FiloError, match=f"member '{member[0].name}' .*{reason}"):
        extract_archive(archive, tmp_path / "work" / "mvtec", sha256=SHA)
    assert _leftovers(tmp_path / "work") == []
    assert not (tmp_path / "evil.txt").exists()


def test_links_inside_the_root_are_allowed():
    info = tarfile.TarInfo("bolt/test/link.png")
    info.type, info.linkname = tarfile.SYMTYPE, "../train/good/000.png"
    assert unsafe_member_reason(info) is None


def test_interrupted_extraction_leaves_no_dataset(tmp_path, monkeypatch):
    archive = _tar(tmp_path / "ok.tar", [_file(f"bolt/train/good/{i:03d}.png") for i in range(5)])
    real_extract = tarfile.TarFile.extract
    calls = []

    def crash_on_third(self, member, *args, **kwargs):
        calls.append(member.name)
        if len(calls) == 3:
            raise KeyboardInterrupt
        return real_extract(self, member, *args, **kwargs)

    monkeypatch.setattr(tarfile.TarFile, "extract", crash_on_third)
    with pytest.raises(KeyboardInterrupt):
        extract_archive(archive, tmp_path / "work" / "mvtec", sha256=SHA)
    assert _leftovers(tmp_path / "work") == []
    monkeypatch.setattr(tarfile.TarFile, "extract", real_extract)
    out = extract_archive(archive, tmp_path / "work" / "mvtec", sha256=SHA)
    assert len(list((out / "bolt/train/good").iterdir())) == 5


def test_same_archive_again_is_a_no_op(tmp_path, monkeypatch):
    archive = _tar(tmp_path / "ok.tar", [_file("bolt/train/good/000.png")])
    out = extract_archive(archive, tmp_path / "mvtec", sha256=SHA)
    (out / "user_note.txt").write_text("kept")
    monkeypatch.setattr(extract_module, "_extract_members", lambda *args: pytest.fail("extracted again"))
    assert extract_archive(archive, tmp_path / "mvtec", sha256=SHA) == out
    assert (out / "user_note.txt").read_text() == "kept"


def test_existing_foreign_folder_is_left_untouched(tmp_path):
    archive = _tar(tmp_path / "ok.tar", [_file("bolt/train/good/000.png")])
    (tmp_path / "mvtec").mkdir()
    (tmp_path / "mvtec" / "mine.txt").write_text("user data")
    with pytest.raises(FiloError, match="mvtec already exists and holds data that filo did not extract"):
        extract_archive(archive, tmp_path / "mvtec", sha256=SHA)
    (tmp_path / "mvtec" / MARKER_NAME).write_text('{"archive_sha256": "' + "cd" * 32 + '"}')
    with pytest.raises(FiloError, match=f"from another archive \\(SHA-256 {'cd' * 32}\\)"):
        extract_archive(archive, tmp_path / "mvtec", sha256=SHA)
    assert _leftovers(tmp_path / "mvtec") == [MARKER_NAME, "mine.txt"]


def test_damaged_and_empty_archives_are_reported(tmp_path):
    archive = _tar(
        tmp_path / "ok.tar.xz", [_file(f"f{i}.bin", bytes(range(256)) * 64) for i in range(4)], "w:xz"
    )
    data = archive.read_bytes()
    (tmp_path / "cut.tar.xz").write_bytes(data[: len(data) // 2])
    with pytest.raises(FiloError, match="cannot extract .*cut.tar.xz .*damaged"):
        extract_archive(tmp_path / "cut.tar.xz", tmp_path / "work" / "a", sha256=SHA)
    empty = _tar(tmp_path / "empty.tar", [])
    with pytest.raises(FiloError, match="empty.tar is an empty archive"):
        extract_archive(empty, tmp_path / "work" / "b", sha256=SHA)
    assert _leftovers(tmp_path / "work") == []
