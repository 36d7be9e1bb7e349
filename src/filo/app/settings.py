"""The settings of `filo app` (params section `app`; the CLI flags of `stages/app.py` derive from these fields)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from filo.errors import FiloError
from filo.export.runtimes import Runtime
from filo.settings import check_choices


@dataclass(frozen=True)
class AppSettings:
    """Where the app listens, what it shows and the limits it puts on uploads."""

    SECTION: ClassVar[str] = "app"

    host: str = "127.0.0.1"
    """Address to listen on (0.0.0.0: every interface)."""
    port: int = 8765
    """Port to listen on."""
    model: str = "models:/filo@champion"
    """The model reference chosen when the page opens (registry URI, bundle folder or checkpoint)."""
    results_dir: str = "results"
    """Folder of `filo evaluate` outputs, one sub-folder per direction."""
    profile: str = "."
    """The pipeline profile folder: its params.yaml's dataset registry (`datasets:`) says which manifest holds a
    result's dataset, for the ground-truth masks of the Results view (no params.yaml: the paper's registry)."""
    max_upload_mb: float = 25.0
    """Largest upload accepted, in MB."""
    max_pixels: int = 40_000_000
    """Largest image accepted, in pixels."""
    page_size: int = 12
    """Images per page of a folder or of the Results view's image table."""
    device: str | None = None
    """Torch device (none: CUDA when available, else CPU)."""
    runtime: Runtime = "torch"
    """torch: eager on registry URIs, bundles and checkpoints; onnx or openvino: onnxruntime or OpenVINO (CPU) on a
    `filo export` folder, or a registry URI whose version carries exports (`filo register --export`), for the
    exported categories only."""
    roots: tuple[str, ...] = ("data", "results")
    """Folders that folder predictions, model paths and served files may be read from (relative ones: to the
    folder the app starts in); any other path gets a 403."""
    token: str | None = None
    """Secret every request must present (Authorization: Bearer header, or the login form's cookie); none:
    $FILO_APP_TOKEN, else no check. A non-loopback --host needs one, or --allow-anonymous."""
    allow_anonymous: bool = False
    """Serve a non-loopback --host without a token (anyone who reaches the port may use the app)."""
    max_concurrent: int = 1
    """Most forwards (predictions) running at once; the model is shared, so more mostly adds memory on CPU."""
    max_queue: int = 4
    """Most prediction requests waiting for a forward; beyond it the answer is 429 with Retry-After."""
    scratch_mb: float = 500.0
    """Most MB of uploads and overlays the app keeps; beyond it the oldest predictions' files are deleted (their
    links then stop working), never the newest one nor one made in the last minute (the page is fetching it)."""

    def __post_init__(self) -> None:
        check_choices(self)
        if not 0 < self.port < 65536:
            raise FiloError(f"--port must be in 1..65535, got {self.port}")
        if self.max_upload_mb <= 0 or self.max_pixels <= 0 or self.page_size < 1:
            raise FiloError("upload limits and page size must be positive")
        if not self.roots:
            raise FiloError("app.roots must name at least one folder (e.g. data,results)")
        if self.scratch_mb <= 0:
            raise FiloError(f"app.scratch_mb must be positive, got {self.scratch_mb}")
        if self.max_concurrent < 1 or self.max_queue < 0:
            raise FiloError(f"app.max_concurrent must be at least 1 and app.max_queue at least 0, got "
                            f"{self.max_concurrent} and {self.max_queue}")
