"""Ingredients of a paper-scale rehearsal: the paper's architectures with random weights, tiny data.

Everything a paper-profile run reads, made locally so the run can be rehearsed offline:

- a random-weight open_clip checkpoint of the paper's CLIP (ViT-L-14-336), to be loaded
  as a local file with `clip_weights_tag: openai` (QuickGELU and OpenAI preprocessing);
- the Grounding DINO config the paper profile names (GroundingDINO_SwinT_OGC, unchanged)
  with random weights, and a BERT-base-shaped text encoder with its tokenizer files;
- small synthetic datasets in the MVTec AD and VisA layouts (2 categories each), packed
  as archives under their official names, with their SHA-256, and an HTTP server on
  127.0.0.1 that serves them to `filo data download --url --sha256`.

`make_rehearsal_inputs` makes all of it under one folder; the shapes are settings so
tests can make the same thing small. `rehearsal_params` turns the paper profile's params
into the rehearsal's: the same settings, pointed at these inputs, shrunk only in epochs.
The run itself is `filo.pipelines.rehearsal`.
"""

from __future__ import annotations

import contextlib
import functools
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

BERT_BASE = {"hidden_size": 768, "num_hidden_layers": 12, "num_attention_heads": 12, "intermediate_size": 3072,
             "max_position_embeddings": 512}
"""bert-base-uncased's shape (its vocabulary size is BERT_BASE_VOCAB)."""
BERT_BASE_VOCAB = 30522


@dataclass(frozen=True)
class RehearsalSettings:
    """What the rehearsal inputs look like (defaults: the paper's architectures, tiny data)."""

    seed: int = 0
    """Seeds every random weight and the synthetic data."""
    clip_name: str = "ViT-L-14-336"
    """open_clip model whose random weights are saved."""
    detector_config: str = "GroundingDINO_SwinT_OGC"
    """groundingdino-py config (a bundled name or a file) of the random detector."""
    bert: dict = field(default_factory=lambda: dict(BERT_BASE))
    """Shape of the text encoder (BertConfig fields)."""
    bert_vocab_size: int | None = BERT_BASE_VOCAB
    """Vocabulary size of the text encoder (None: the small WordPiece vocabulary as is)."""
    categories: dict = field(default_factory=lambda: {"mvtec": ("woven_fabric", "round_part"),
                                                      "visa": ("wood_grain", "capsule_blob")})
    """Synthetic categories per dataset of the rehearsed profile (its `datasets:` keys; each drawn in its layout)."""
    image_size: int = 128
    n_train_good: int = 2
    n_test_good: dict = field(default_factory=lambda: {"mvtec": 2, "visa": 6})
    """Normal test images per category, per dataset: unequal test sets let the rehearsal tell a
    stage's fixed cost from its cost per image (two stages, two sizes)."""
    n_test_per_defect: int = 1


@dataclass(frozen=True)
class RehearsalInputs:
    """Where the made inputs are."""

    clip_checkpoint: Path
    detector_checkpoint: Path
    text_encoder: Path
    archives: dict[str, Path]
    """Dataset name -> archive, named as the official one."""
    sha256: dict[str, str]
    """Dataset name -> archive SHA-256."""


def make_clip_checkpoint(path: Path, name: str, *, seed: int) -> Path:
    """Save the seeded random weights of open_clip model `name` (open_clip state-dict format) to `path`."""
    import torch

    from filo.model.clip_backbone import create_clip

    bundle = create_clip(name, None, _native_image_size(name), seed=seed)
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save(bundle.model.state_dict(), path)
    return path


def _native_image_size(name: str) -> int:
    import open_clip

    return open_clip.get_model_config(name)["vision_cfg"]["image_size"]


def make_detector(out_dir: Path, settings: RehearsalSettings) -> tuple[Path, Path]:
    """A random Grounding DINO of `settings.detector_config` and its BERT; returns (checkpoint, text encoder dir)."""
    import torch

    from filo.boxes.tiny import save_random_checkpoint, write_text_encoder

    torch.manual_seed(settings.seed)
    text_encoder = out_dir / "bert-base-uncased"
    write_text_encoder(text_encoder, (), settings.bert, vocab_size=settings.bert_vocab_size)
    checkpoint = out_dir / "groundingdino_swint_ogc.pth"
    save_random_checkpoint(settings.detector_config, text_encoder, checkpoint, half=False)
    return checkpoint, text_encoder


def make_archives(out_dir: Path, settings: RehearsalSettings, registry=None) -> dict[str, Path]:
    """A synthetic stand-in for each dataset of `settings.categories`, drawn in its layout in `registry` (a
    `DatasetRegistry`; default: the paper's), packed under the archive name its download would have."""
    from filo.data.registry import DatasetRegistry
    from filo.data.stage import download_location
    from filo.data.synthetic import generate_dataset, pack_archive

    registry = registry or DatasetRegistry()
    archives = {}
    for offset, (name, categories) in enumerate(sorted(settings.categories.items())):
        spec = registry[name]
        dataset = generate_dataset(
            spec.layout, out_dir / "datasets" / name, seed=settings.seed + offset, categories=categories,
            image_size=settings.image_size, n_train_good=settings.n_train_good,
            n_test_good=settings.n_test_good[name],
            n_test_per_defect=settings.n_test_per_defect,
        )
        archives[name] = pack_archive(dataset, out_dir / "archives" / download_location(spec)[2])
    return archives


def make_rehearsal_inputs(out_dir: str | Path, settings: RehearsalSettings | None = None,
                          registry=None) -> RehearsalInputs:
    """Make every rehearsal input under `out_dir` (clip/, detector/, archives/) for the datasets of `registry`."""
    from filo.io import sha256_file

    settings = settings or RehearsalSettings()
    out_dir = Path(out_dir)
    clip = make_clip_checkpoint(out_dir / "clip" / f"{settings.clip_name}-random.pt", settings.clip_name,
                                seed=settings.seed)
    checkpoint, text_encoder = make_detector(out_dir / "detector", settings)
    archives = make_archives(out_dir, settings, registry)
    return RehearsalInputs(clip, checkpoint, text_encoder, archives,
                           {name: sha256_file(path) for name, path in archives.items()})


def rehearsal_params(paper: dict, inputs: RehearsalInputs, base_url: str, code_root: Path, *,
                     steps_per_epoch: int = 2, overrides: dict | None = None) -> dict:
    """The paper profile's params document `paper`, pointed at the rehearsal's inputs and shrunk in training only.

    Each registered dataset is downloaded from `base_url` (`serve_folder` of the archives)
    with its SHA-256 (its `datasets:` entry's url and sha256); the detector and CLIP are the random ones of `inputs`, loaded as local files
    tagged `openai` (QuickGELU and OpenAI's preprocessing, as a real local copy of OpenAI's
    weights is); training runs one epoch per phase of `steps_per_epoch` steps. The
    preflight accepts the CPU and reads no cost table (the rehearsal is what measures it).
    Every other setting is the paper profile's; `overrides` (sections of params, merged
    key by key) change more, e.g. a tiny model for tests.
    """
    import copy

    params = copy.deepcopy(paper)
    params["code_root"] = str(code_root)
    params["doctor"] = {**params.get("doctor", {}), "allow_cpu": True, "headroom_gib": 1.0, "cost_table": None}
    datasets = params.setdefault("datasets", {})
    for name, path in inputs.archives.items():
        datasets[name] = {**datasets.get(name, {}), "source": "download", "url": f"{base_url}/{path.name}",
                          "sha256": inputs.sha256[name]}
    describe = params.setdefault("describe", {})
    if "cache_dir" in describe:
        describe["cache_dir"] = str((code_root / "profiles" / "paper" / describe["cache_dir"]).resolve())
    params["detector"] = {**params.get("detector", {}), "checkpoint": str(inputs.detector_checkpoint),
                          "text_encoder": str(inputs.text_encoder)}
    train = params.setdefault("train", {})
    train.update(epochs=1, adapter_epochs=1, max_steps_per_epoch=steps_per_epoch)
    train["model_overrides"] = {**train.get("model_overrides", {}), "clip_pretrained": str(inputs.clip_checkpoint),
                                "clip_weights_tag": "openai"}
    return _merged(params, overrides or {})


def _merged(base: dict, overrides: dict) -> dict:
    """`base` with `overrides` merged into it, nested mappings key by key."""
    merged = dict(base)
    for key, value in overrides.items():
        merged[key] = _merged(merged[key], value) if isinstance(value, dict) and isinstance(
            merged.get(key), dict) else value
    return merged


class _QuietHandler(SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args) -> None:
        pass


class _QuietServer(ThreadingHTTPServer):
    """A server that ignores clients hanging up mid-file (a probe that reads only the headers)."""

    def handle_error(self, request, client_address) -> None:
        import sys

        if not isinstance(sys.exc_info()[1], (ConnectionResetError, BrokenPipeError)):
            super().handle_error(request, client_address)


@contextlib.contextmanager
def serve_folder(folder: Path) -> Iterator[str]:
    """Serve the files of `folder` over HTTP on 127.0.0.1 while the block runs; yields the base URL."""
    handler = functools.partial(_QuietHandler, directory=str(folder))
    server = _QuietServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, name="rehearsal-http", daemon=True)
    thread.start()
    try:
        host, port = server.server_address[:2]
        yield f"http://{host}:{port}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join()

