"""Downloading dataset archives: resumable, verified, atomic (the `filo data download` stage).

Layout under `--root DIR`: the archive is kept at `DIR/<archive name>` and the dataset is
extracted to `DIR/<dataset name>` (e.g. `DIR/mvtec`, `DIR/visa`), which is the root to
pass to `filo data index`. A download streams into `<archive>.part` with a progress bar,
resumes with an HTTP Range request after a dropped connection (or on the next run), and
is renamed to the archive name only once its SHA-256 matches. A previously downloaded
archive is verified again before use. On a checksum mismatch the file is kept and the
error names it with both hashes. When the dataset folder already holds an extraction of
the expected archive, nothing is downloaded or checked again.

An archive the user already has (`--archive FILE`) goes through the same checksum and the
same safe extraction. It is only read, never moved or written: it is hard-linked to
`DIR/<archive name>` when both are on one filesystem (no bytes copied), and otherwise
extracted from where it is, without a copy.
"""

from __future__ import annotations

import http.client
import logging
import os
import time
import urllib.error
import urllib.request
from pathlib import Path

from tqdm import tqdm

from filo.data.extract import extract_archive, is_extracted
from filo.data.sources import get_source
from filo.errors import FiloError
from filo.io import sha256_file

log = logging.getLogger(__name__)

CHUNK_BYTES = 1 << 20
# Network failures worth a retry: URLError, resets and timeouts are all OSErrors.
_TRANSIENT_ERRORS = (http.client.HTTPException, OSError)


def _checksum_error(path: Path, url: str, found: str, expected: str) -> FiloError:
    """The error for a file whose SHA-256 is not the expected one (the file is kept)."""
    return FiloError(
        f"SHA-256 mismatch for {path} (from {url}): got {found}, expected {expected}. The file was kept; "
        "delete it to download again, or pass the checksum of the new release with --sha256 if the source changed"
    )


def _open_from(url: str, offset: int, timeout_s: float) -> http.client.HTTPResponse | urllib.error.HTTPError:
    """Open `url` asking for the bytes from `offset` on; returns the response (status 200, 206 or 416)."""
    request = urllib.request.Request(url, headers={"Range": f"bytes={offset}-"} if offset else {})
    try:
        return urllib.request.urlopen(request, timeout=timeout_s)
    except urllib.error.HTTPError as error:
        if error.code == 416:
            return error
        raise FiloError(
            f"download of {url} failed: HTTP {error.code} {error.reason}; check the URL (--url)"
        ) from error


def _fetch_once(url: str, part: Path, timeout_s: float) -> None:
    """Append the rest of `url` to `part` (or restart it when the server ignores Range); may raise on a cut."""
    offset = part.stat().st_size if part.exists() else 0
    response = _open_from(url, offset, timeout_s)
    with response:
        if response.status == 416:  # the .part already holds every byte
            return
        if response.status != 206:
            offset = 0  # the server ignored Range and sends the whole file
        elif not response.headers.get("Content-Range", "").startswith(f"bytes {offset}-"):
            raise FiloError(
                f"{url} answered a request for bytes {offset}- with the range "
                f"{response.headers.get('Content-Range')!r}; delete {part} to download from the start"
            )
        length = response.headers.get("Content-Length")
        total = offset + int(length) if length is not None else None
        with (
            open(part, "ab" if offset else "wb") as handle,
            tqdm(
                total=total,
                initial=offset,
                unit="B",
                unit_scale=True,
                desc=f"download {part.name}",
                disable=None,
            ) as progress,
        ):
            received = 0
            while chunk := response.read(CHUNK_BYTES):
                handle.write(chunk)
                progress.update(len(chunk))
                received += len(chunk)
            handle.flush()
            os.fsync(handle.fileno())
        if length is not None and received < int(length):
            raise http.client.IncompleteRead(b"", int(length) - received)


def download_file(
    url: str,
    dest: str | os.PathLike,
    *,
    sha256: str,
    attempts: int = 5,
    timeout_s: float = 60.0,
    retry_wait_s: float = 1.0,
) -> Path:
    """Download `url` to `dest` unless a file with the expected SHA-256 is already there.

    Resumes `<dest>.part` with HTTP Range after a cut connection (up to `attempts` tries,
    waiting `retry_wait_s` longer each time) and renames it to `dest` after verification.
    Raises FiloError naming the file and both hashes on a mismatch, keeping the file.
    """
    dest, sha256 = Path(dest), sha256.lower()
    if dest.exists():
        found = sha256_file(dest)
        if found != sha256:
            raise _checksum_error(dest, url, found, sha256)
        log.info("%s is already downloaded and verified", dest)
        return dest
    dest.parent.mkdir(parents=True, exist_ok=True)
    part = dest.with_name(dest.name + ".part")
    for attempt in range(1, attempts + 1):
        try:
            _fetch_once(url, part, timeout_s)
            break
        except _TRANSIENT_ERRORS as error:
            if attempt == attempts:
                raise FiloError(
                    f"download of {url} failed after {attempts} attempts ({error}); the partial file {part} "
                    "is kept and the next run resumes it"
                ) from error
            log.warning(
                "download of %s interrupted (%s); resuming (attempt %d/%d)", url, error, attempt + 1, attempts
            )
            time.sleep(retry_wait_s * attempt)
    found = sha256_file(part)
    if found != sha256:
        raise _checksum_error(part, url, found, sha256)
    os.replace(part, dest)
    return dest


def adopt_archive(archive: str | os.PathLike, dest: str | os.PathLike, *, sha256: str) -> Path:
    """Verify a user-supplied `archive` and return the path to extract it from, never changing the file.

    Raises FiloError naming the file and both hashes when its SHA-256 is not `sha256`. The
    verified file is hard-linked to `dest` when that is possible (same filesystem), so the
    root looks as after a download; otherwise `archive` itself is returned and read in
    place: no copy, no rename. A file already at `dest` (an earlier download or link) is
    verified and used instead.
    """
    archive, dest, sha256 = Path(archive), Path(dest), sha256.lower()
    if not archive.is_file():
        raise FiloError(f"--archive {archive} is not a file; pass the path of the downloaded dataset archive")
    if dest.exists():
        found = sha256_file(dest)
        if found != sha256:
            raise FiloError(
                f"SHA-256 mismatch for {dest}, already in the dataset root (--archive {archive} was not used): "
                f"got {found}, expected {sha256}. Move or delete {dest} and run again"
            )
        log.info("%s is already in place and verified", dest)
        return dest
    found = sha256_file(archive)
    if found != sha256:
        raise FiloError(
            f"SHA-256 mismatch for --archive {archive}: got {found}, expected {sha256}. The file is not the "
            "expected dataset archive (an incomplete download or another release); it was left as it is"
        )
    dest.parent.mkdir(parents=True, exist_ok=True)
    try:
        os.link(archive, dest)
    except OSError as error:
        log.info("cannot hard-link %s to %s (%s); extracting it from where it is", archive, dest, error)
        return archive
    log.info("hard-linked %s to %s", archive, dest)
    return dest


def download_dataset(
    name: str,
    root: str | os.PathLike,
    *,
    url: str | None = None,
    sha256: str | None = None,
    archive: str | os.PathLike | None = None,
) -> Path:
    """Download (or take `archive`), verify and extract a known dataset; returns the folder `root/<name>`.

    `url` replaces the official URL (same archive, new place); `sha256` replaces the
    official checksum (only for a new release or a stand-in archive, e.g. in tests);
    `archive` is a copy the user already has (see `adopt_archive`), used instead of a download.
    """
    if url is not None and archive is not None:
        raise FiloError("pass either --url or --archive, not both: --archive is used instead of a download")
    source = get_source(name)
    return fetch_dataset(Path(root) / source.name, url or source.url, sha256 or source.sha256,
                         archive_name=source.archive_name, archive=archive)


def fetch_dataset(
    dataset_dir: str | os.PathLike,
    url: str,
    sha256: str,
    *,
    archive_name: str,
    archive: str | os.PathLike | None = None,
) -> Path:
    """Download `url` (or take `archive`) as `archive_name` beside `dataset_dir`, verify `sha256`, extract it there.

    The archive stays in `dataset_dir`'s parent folder so an interrupted transfer resumes;
    a folder already holding the extraction of this archive is left as it is.
    """
    dataset_dir = Path(dataset_dir)
    sha256 = sha256.lower()
    if is_extracted(dataset_dir, sha256):
        log.info("%s already holds the extracted dataset of %s; nothing to do", dataset_dir, archive_name)
        return dataset_dir
    if archive is not None:
        local = adopt_archive(archive, dataset_dir.parent / archive_name, sha256=sha256)
    else:
        local = download_file(url, dataset_dir.parent / archive_name, sha256=sha256)
    return extract_archive(local, dataset_dir, sha256=sha256)
