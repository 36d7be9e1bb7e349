"""`filo doctor`: before hours of compute, say what a paper-profile run still lacks and how to get it.

Each check gives a `Finding`: what was looked at, what was found, and, when it failed, the
exact way to obtain or fix the input. A failed *blocking* finding means the run cannot
succeed (the command exits 1); a failed non-blocking one is a warning (e.g. no cost table).

What is checked, from the profile's params file (the sections the stages read: `data`,
`detector`, `train`; relative paths in it are relative to its folder, as the stages run there):
- each dataset: extracted already, or its archive present with the right SHA-256, or its
  URL reachable (`data.urls`, `data.sha256`, `data.archives` per dataset);
- the Grounding DINO config, the BERT text-encoder folder (it must load), and the
  checkpoint (it must load into the config's model with no missing or mis-shaped keys);
- the CLIP weights of the training preset: a local file must load (and name its tag),
  a tag must be in the Hugging Face cache or reachable;
- free disk space for what is still to be downloaded and extracted, plus headroom;
- a CUDA GPU and its bf16 support, and the expected duration from a cost table.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from filo.errors import FiloError

log = logging.getLogger(__name__)

GIB = 1 << 30
GROUNDING_DINO_SWINT_OGC_URL = (
    "https://github.com/IDEA-Research/GroundingDINO/releases/download/v0.1.0-alpha/groundingdino_swint_ogc.pth"
)
BERT_FIX = (
    "on a machine with network: python -c \"from transformers import BertModel, BertTokenizer; "
    "[c.from_pretrained('bert-base-uncased').save_pretrained('{path}') for c in (BertModel, BertTokenizer)]\" "
    "and copy the folder to {path}"
)


@dataclass(frozen=True)
class DoctorSettings:
    """What `filo doctor` checks and where (defaults: the paper profile run from the repository root)."""

    params: Path = Path("profiles/paper/params.yaml")
    """The profile's params file (sections `data`, `detector`, `train`)."""
    data_root: Path = Path("data/datasets")
    """Where the pipeline's dataset stage puts the archives and datasets, relative to the params file's folder."""
    datasets: tuple[str, ...] = ("mvtec", "visa")
    """The datasets the run needs."""
    headroom_gib: float = 10.0
    """Free space needed beyond the datasets: models, boxes, results, MLflow runs, caches."""
    allow_cpu: bool = False
    """Accept a machine without a CUDA GPU (the run then takes the CPU time of the cost table)."""
    cost_table: Path | None = Path("benchmarks/paper_cost.json")
    """JSON cost table: {"measured_on": str, "stages": {name: {"seconds_per_image": s, "images": n}}}."""
    url_timeout_s: float = 10.0
    """How long to wait for a dataset or weights URL to answer."""

    def __post_init__(self) -> None:
        object.__setattr__(self, "params", Path(self.params))
        object.__setattr__(self, "data_root", Path(self.data_root))
        object.__setattr__(self, "datasets", tuple(self.datasets))
        if self.cost_table is not None:
            object.__setattr__(self, "cost_table", Path(self.cost_table))


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
class _Context:
    """What the checks share: the settings, the profile's folder and the disk space still needed."""

    settings: DoctorSettings
    bytes_needed: int = 0
    findings: list[Finding] = field(default_factory=list)

    def add(self, *args: Any, **kwargs: Any) -> None:
        self.findings.append(Finding(*args, **kwargs))

    @property
    def profile(self) -> Path:
        """The folder the profile's stages run in (the params file's)."""
        return self.settings.params.parent

    def path(self, value: str | os.PathLike) -> Path:
        """A path of the params file, as the stages running in the profile's folder see it."""
        return self.profile / Path(value)

    @property
    def data_root(self) -> Path:
        return self.path(self.settings.data_root)

    def load(self, cls: type):
        """The settings section `cls` of the params file (FiloError naming a bad key)."""
        from filo.settings import load_settings

        return load_settings(cls, self.settings.params)


def run_doctor(settings: DoctorSettings) -> list[Finding]:
    """Run every check; returns the findings in report order (never raises for a missing input)."""
    from filo.data.stage import DataSettings

    if not settings.params.is_file():
        return [Finding("params", False, f"{settings.params} does not exist",
                        fix="run from the repository root or pass --params with the profile's params.yaml")]
    context = _Context(settings)
    try:
        data = context.load(DataSettings)
    except FiloError as error:
        return [Finding("params", False, str(error), fix="fix the data: section")]
    for name in settings.datasets:
        _check_dataset(context, data, name)
    _check_detector(context)
    _check_clip(context)
    _check_disk(context)
    _check_gpu_and_cost(context)
    return context.findings


def format_report(findings: list[Finding]) -> str:
    """Human-readable report: one line per check, the fix indented under each failure, a verdict."""
    lines = []
    for finding in findings:
        status = "ok" if finding.ok else ("MISSING" if finding.blocking else "warning")
        lines.append(f"[{status}] {finding.check}: {finding.detail}")
        if not finding.ok and finding.fix:
            lines.append(f"    fix: {finding.fix}")
    blocking = sum(1 for finding in findings if not finding.ok and finding.blocking)
    lines.append(
        f"{blocking} problem(s): the run cannot succeed until they are fixed" if blocking
        else "ready: every input of the run is in place"
    )
    return "\n".join(lines)


def exit_code(findings: list[Finding]) -> int:
    """1 when a blocking check failed, else 0."""
    return int(any(not finding.ok and finding.blocking for finding in findings))


def probe_url(url: str, timeout_s: float) -> tuple[bool, str]:
    """Whether `url` answers a GET (the body is not read), with the size or the reason it failed."""
    request = urllib.request.Request(url, headers={"Range": "bytes=0-"})
    try:
        with urllib.request.urlopen(request, timeout=timeout_s) as response:
            length = response.headers.get("Content-Length")
            return True, f"{int(length) / GIB:.2f} GiB" if length else "size unknown"
    except urllib.error.HTTPError as error:
        return False, f"HTTP {error.code} {error.reason}"
    except (urllib.error.URLError, OSError, ValueError) as error:
        return False, str(getattr(error, "reason", error))


def _check_dataset(context: _Context, data, name: str) -> None:
    from filo.data.extract import read_marker
    from filo.data.sources import get_source
    from filo.io import sha256_file

    source = get_source(name)
    url = data.urls.get(name) or source.url
    sha256 = str(data.sha256.get(name) or source.sha256).lower()
    root = context.data_root
    dataset_dir = root / source.name
    check = f"dataset {name}"
    by_hand = (
        f"download {source.archive_name} from {source.homepage}, then set data.archives.{name}: FILE in "
        f"{context.settings.params} (or run `filo data download {name} --root {root} --archive FILE`)"
    )
    if dataset_dir.exists():
        found = read_marker(dataset_dir)
        if found == sha256:
            context.add(check, True, f"extracted at {dataset_dir}")
        else:
            holds = "another archive" if found else "data filo did not extract"
            context.add(check, False, f"{dataset_dir} exists but holds {holds}",
                        fix=f"move or delete {dataset_dir}; filo extracts the verified archive there itself")
        return
    context.bytes_needed += int(source.extracted_gib * GIB)
    candidates = [context.path(data.archives[name])] if data.archives.get(name) else []
    candidates.append(root / source.archive_name)
    for archive in candidates:
        if archive.is_file():
            found = sha256_file(archive)
            if found == sha256:
                context.add(check, True, f"archive {archive} present, SHA-256 verified")
            else:
                context.add(check, False, f"archive {archive} has SHA-256 {found}, expected {sha256}",
                            fix=f"the file is incomplete or another release: delete it and {by_hand}")
            return
    reachable, detail = probe_url(url, context.settings.url_timeout_s)
    if reachable:
        context.bytes_needed += int(source.archive_gib * GIB)
        context.add(check, True, f"not on disk; {url} is reachable ({detail}) and will be downloaded")
    else:
        context.add(check, False, f"not on disk and {url} is not reachable ({detail})", fix=by_hand)


def _check_detector(context: _Context) -> None:
    from filo.boxes.detector import resolve_config_path
    from filo.boxes.stage import DetectorSettings

    try:
        detector = context.load(DetectorSettings)
    except FiloError as error:
        context.add("Grounding DINO", False, str(error), fix="fix the detector: section")
        return
    if detector.kind == "tiny":
        context.add("Grounding DINO", True, "detector.kind tiny: the pipeline builds a tiny random detector "
                    "(meaningless boxes; the paper profile uses kind grounding_dino)")
        return
    if detector.checkpoint is None:
        context.add("Grounding DINO", False, f"{context.settings.params} has no detector.checkpoint",
                    fix=f"set detector.checkpoint to a Grounding DINO .pth ({GROUNDING_DINO_SWINT_OGC_URL})")
        return
    config = detector.config
    config_file = context.path(config)
    if config_file.is_file():
        config = str(config_file)
    try:
        resolve_config_path(config)
    except FiloError as error:
        context.add("Grounding DINO config", False, str(error),
                    fix="set detector.config to a groundingdino-py config")
        return
    context.add("Grounding DINO config", True, str(detector.config))
    text_encoder = None if detector.text_encoder is None else str(context.path(detector.text_encoder))
    bert_ok = text_encoder is None or _check_bert(context, Path(text_encoder))
    checkpoint = context.path(detector.checkpoint)
    fix = f"download {GROUNDING_DINO_SWINT_OGC_URL} (or the authors' fine-tuned checkpoint) to {checkpoint}"
    if not checkpoint.is_file():
        context.add("Grounding DINO checkpoint", False, f"{checkpoint} does not exist", fix=fix)
        return
    if not bert_ok:
        context.add("Grounding DINO checkpoint", False, f"{checkpoint} present, but cannot be loaded without the "
                    "BERT text encoder", fix="fix the BERT text encoder (above), then run filo doctor again")
        return
    from filo.boxes.detector import build_model, load_state_reported, read_checkpoint_state

    try:
        model = build_model(config, text_encoder, "cpu")
        state = read_checkpoint_state(checkpoint, trust_pickle=detector.trust_checkpoint)
        report = load_state_reported(model, state, source=f"checkpoint {checkpoint}")
    except FiloError as error:
        context.add("Grounding DINO checkpoint", False, str(error), fix=fix)
        return
    if report.missing or report.mismatched:
        context.add("Grounding DINO checkpoint", False,
                    f"{checkpoint} leaves {len(report.missing)} missing and {len(report.mismatched)} mis-shaped keys "
                    f"(first: {[*report.missing, *report.mismatched][:5]})",
                    fix=f"it does not belong to config {config}; {fix}")
        return
    extra = f"; {len(report.unexpected)} unused keys" if report.unexpected else ""
    context.add("Grounding DINO checkpoint", True, f"{checkpoint} loads with no missing keys{extra}")


def _check_bert(context: _Context, path: Path) -> bool:
    fix = BERT_FIX.format(path=path)
    if not path.is_dir():
        context.add("BERT text encoder", False, f"{path} does not exist", fix=fix)
        return False
    absent = [name for name in ("config.json", "vocab.txt") if not (path / name).is_file()]
    if absent:
        context.add("BERT text encoder", False, f"{path} does not load: it lacks {', '.join(absent)}", fix=fix)
        return False
    from transformers import BertModel, BertTokenizer

    try:
        BertTokenizer.from_pretrained(str(path))
        model = BertModel.from_pretrained(str(path))
    except (OSError, ValueError) as error:
        context.add("BERT text encoder", False, f"{path} does not load: {error}", fix=fix)
        return False
    context.add("BERT text encoder", True, f"{path} loads (hidden size {model.config.hidden_size})")
    return True


def _check_clip(context: _Context) -> None:
    from filo.model.clip_backbone import create_clip
    from filo.model.config import preset_config
    from filo.training.params import TrainParams

    try:
        train = context.load(TrainParams)
        config = preset_config(train.model_preset, train.model_overrides)
    except FiloError as error:
        context.add("CLIP weights", False, str(error), fix="fix the train: section")
        return
    check = f"CLIP weights {config.clip_name}"
    pretrained = config.clip_pretrained
    if pretrained is None:
        context.add(check, False, "train.model_overrides.clip_pretrained is null: the model would be random",
                    fix="remove the override (OpenAI weights) or point it at a local checkpoint")
        return
    local_fix = (
        f"on a machine with network: python -c \"import open_clip, torch; torch.save(open_clip.create_model("
        f"'{config.clip_name}', pretrained='openai').state_dict(), 'clip.pt')\", copy clip.pt here (e.g. "
        "models/clip/clip.pt) and set train.model_overrides: {clip_pretrained: models/clip/clip.pt, "
        "clip_weights_tag: openai}"
    )
    if context.path(pretrained).is_file() or os.path.sep in pretrained:
        try:
            create_clip(config.clip_name, str(context.path(pretrained)), config.image_size,
                        weights_tag=config.clip_weights_tag)
        except FiloError as error:
            context.add(check, False, str(error), fix=local_fix)
            return
        context.add(check, True, f"{pretrained} loads as tag {config.clip_weights_tag!r}")
        return
    _check_clip_tag(context, check, config.clip_name, pretrained, local_fix)


def _check_clip_tag(context: _Context, check: str, name: str, tag: str, fix: str) -> None:
    """A tag's weights: in the Hugging Face cache, or reachable on the Hub."""
    import open_clip
    from huggingface_hub import try_to_load_from_cache
    from open_clip.constants import HF_SAFE_WEIGHTS_NAME, HF_WEIGHTS_NAME

    tag_cfg = open_clip.get_pretrained_cfg(name, tag)
    if not tag_cfg:
        context.add(check, False, f"{tag!r} is neither a file nor a tag of {name}",
                    fix=f"use one of {open_clip.list_pretrained_tags_by_model(name)} or a local file")
        return
    model_id, filename = os.path.split(tag_cfg.get("hf_hub", ""))
    names = [filename] if filename else [HF_SAFE_WEIGHTS_NAME, HF_WEIGHTS_NAME]
    for candidate in names:
        cached = try_to_load_from_cache(model_id, candidate)
        if isinstance(cached, str):
            context.add(check, True, f"tag {tag!r} is in the Hugging Face cache ({cached})")
            return
    url = f"https://huggingface.co/{model_id}/resolve/main/{names[-1]}"
    reachable, detail = probe_url(url, context.settings.url_timeout_s)
    if reachable:
        context.add(check, True, f"tag {tag!r} not cached; {url} is reachable ({detail})")
    else:
        context.add(check, False, f"tag {tag!r} is not cached and {url} is not reachable ({detail})", fix=fix)


def _check_disk(context: _Context) -> None:
    where = context.data_root.resolve()
    while not where.exists():
        where = where.parent
    free = shutil.disk_usage(where).free
    needed = context.bytes_needed + int(context.settings.headroom_gib * GIB)
    detail = f"{free / GIB:.1f} GiB free at {where}, about {needed / GIB:.1f} GiB needed"
    context.add("disk space", free >= needed, detail,
                fix=f"free {(needed - free) / GIB:.1f} GiB or point --data-root at a larger disk")


def cuda_status() -> tuple[str, bool] | None:
    """(GPU name, bf16 supported) of CUDA device 0, or None without a usable CUDA GPU."""
    import torch

    if not torch.cuda.is_available():
        return None
    return torch.cuda.get_device_name(0), bool(torch.cuda.is_bf16_supported())


def _check_gpu_and_cost(context: _Context) -> None:
    settings = context.settings
    gpu = cuda_status()
    if gpu is None:
        fix = ("accepted (--allow-cpu): expect the CPU time below" if settings.allow_cpu
               else "run on a machine with a CUDA GPU, or pass --allow-cpu to accept the CPU time below")
        context.add("GPU", False, "no CUDA GPU: training and evaluation run on the CPU", fix=fix,
                    blocking=not settings.allow_cpu)
    else:
        name, bf16 = gpu
        context.add("GPU", True, f"{name}")
        context.add("bf16", bf16, "supported: autocast runs in bf16" if bf16 else "not supported",
                    fix="expect fp32 speed (about 2x slower) or use an Ampere or newer GPU", blocking=False)
    table = settings.cost_table
    if table is None or not table.is_file():
        context.add("expected duration", False, f"no cost table at {table}",
                    fix="run the paper-scale rehearsal to measure per-image costs", blocking=False)
        return
    try:
        costs = json.loads(table.read_text())
        seconds = sum(stage["seconds_per_image"] * stage["images"] for stage in costs["stages"].values())
        measured_on = costs["measured_on"]
    except (ValueError, KeyError, TypeError) as error:
        context.add("expected duration", False, f"cost table {table} is not readable ({error!r})",
                    fix="regenerate it with the rehearsal", blocking=False)
        return
    context.add("expected duration", True, f"{seconds / 3600:.1f} h as measured on {measured_on} ({table})")
