"""What a preflight check is: the shared vocabulary of the checks each package owns, run by `filo doctor`.

A package whose stage needs something from outside the repository (a dataset archive, a
detector checkpoint, CLIP weights, an LLM endpoint) owns the check of it, as a function
`check_...(context: CheckContext) -> None` in its `preflight` module that adds `Finding`s.
`filo.doctor` only collects those functions, runs them, adds the machine's checks (disk,
GPU, cost) and formats the report. The check modules import this one for the type only
(``if TYPE_CHECKING:``): the doctor passes the context in, so an edit here reruns the
preflight stage alone, not the stages of the packages that own checks.
"""

from __future__ import annotations

import os
import urllib.error
import urllib.request
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

GIB = 1 << 30


@dataclass(frozen=True)
class Finding:
    """The outcome of one check."""

    check: str
    ok: bool
    detail: str
    fix: str = ""
    """How to obtain or repair the input (only when not ok)."""
    blocking: bool = True
    """Whether a failure means the run cannot succeed (else it is a warning)."""


@dataclass
class CheckContext:
    """What the checks share: the params file, the folder the stages run in, and what they found so far.

    Relative paths of the params file are relative to `run_dir`, the folder the stages run in.
    """

    params: Path
    run_dir: Path
    data_root: Path
    """Where the dataset stages put archives and datasets (already under `run_dir`)."""
    url_timeout_s: float
    bytes_needed: int = 0
    """Disk space the run still needs for downloads and extraction (the checks add to it)."""
    findings: list[Finding] = field(default_factory=list)

    def add(self, *args: Any, **kwargs: Any) -> None:
        """Record one finding (the arguments of `Finding`)."""
        self.findings.append(Finding(*args, **kwargs))

    def need_gib(self, gib: float) -> None:
        """Add `gib` GiB to the disk space the run still needs (checked by the doctor's disk check)."""
        self.bytes_needed += int(gib * GIB)

    def path(self, value: str | os.PathLike) -> Path:
        """A path of the params file, as the stages running in `run_dir` see it."""
        return self.run_dir / Path(value)

    def load(self, cls: type):
        """The settings section `cls` of the params file (FiloError naming a bad key)."""
        from filo.settings import load_settings

        return load_settings(cls, self.params)

    def section(self, name: str) -> Mapping[str, Any]:
        """The raw params section `name` ({} when absent), for a check that must not import its settings class."""
        from filo.errors import FiloError
        from filo.settings import read_params

        section = read_params(self.params).get(name) or {}
        if not isinstance(section, Mapping):
            raise FiloError(f"section {name!r} of {self.params} must be a mapping, found {section!r}")
        return section

    def probe(self, url: str) -> tuple[bool, str]:
        """`probe_url(url)` within the preflight's URL timeout."""
        return probe_url(url, self.url_timeout_s)

    def ask(self, url: str, headers: Mapping[str, str] | None = None) -> tuple[int | None, str]:
        """`http_answer(url, headers)` within the preflight's URL timeout."""
        return http_answer(url, self.url_timeout_s, headers)


def http_answer(url: str, timeout_s: float, headers: Mapping[str, str] | None = None) -> tuple[int | None, str]:
    """The HTTP status `url` answers a GET with (None when nothing answers), and the size or the reason.

    The body is not read. The detail is the announced size on success, "HTTP <code> <reason>"
    for an error status, and the connection error when no server answered.
    """
    request = urllib.request.Request(url, headers=dict(headers or {}))
    try:
        with urllib.request.urlopen(request, timeout=timeout_s) as response:
            length = response.headers.get("Content-Length")
            return response.status, f"{int(length) / GIB:.2f} GiB" if length else "size unknown"
    except urllib.error.HTTPError as error:
        return error.code, f"HTTP {error.code} {error.reason}"
    except (urllib.error.URLError, OSError, ValueError) as error:
        return None, str(getattr(error, "reason", error))


def probe_url(url: str, timeout_s: float) -> tuple[bool, str]:
    """Whether `url` answers a GET with a success status, with the size or the reason it failed."""
    status, detail = http_answer(url, timeout_s, {"Range": "bytes=0-"})
    return status is not None and status < 400, detail
