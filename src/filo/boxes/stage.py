"""The detector and boxes stages of the pipeline (params sections `detector` and `boxes`).

`prepare_detector` writes a detector folder: the tiny random demo detector (`kind: tiny`),
or, for a real Grounding DINO (`kind: grounding_dino`), a record of the user's config,
checkpoint and text encoder after checking that they load. Either way the folder holds
``detector.json``, which `open_detector` reads, so the boxes stage takes one path.
`extract_boxes_stage` runs that detector over a manifest's test images. `DETECTOR` and
`BOXES` declare the two stages (`filo.stagespec`): their commands, DAG stages and run records.
"""

from __future__ import annotations

import json
import logging
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import ClassVar, Literal

from filo.boxes.rules import AUTHORS_RULES, BoxRules
from filo.errors import FiloError
from filo.settings import check_choices
from filo.stagespec import StageSpec, path_in, path_out

logger = logging.getLogger(__name__)

SPEC_FILE = "detector.json"
"""The file of a detector folder that says which config, checkpoint and text encoder make the detector."""


@dataclass(frozen=True)
class DetectorSettings:
    """Which Grounding DINO the boxes stage runs (params section `detector`)."""

    SECTION: ClassVar[str] = "detector"

    kind: Literal["tiny", "grounding_dino"] = "tiny"
    """'tiny': a small random detector built offline (meaningless boxes, demo); 'grounding_dino': your files below."""
    seed: int = 0
    """Tiny only: seed of its random weights."""
    config: str = "GroundingDINO_SwinT_OGC"
    """grounding_dino only: a groundingdino-py config .py file, or a bundled config name."""
    checkpoint: Path | None = None
    """grounding_dino only: the checkpoint .pth (e.g. groundingdino_swint_ogc.pth or the authors' fine-tuned ones)."""
    text_encoder: Path | None = None
    """grounding_dino only: a local BERT folder (bert-base-uncased); none: the config's hub name (needs network)."""
    trust_checkpoint: bool = False
    """Allow a checkpoint that holds pickled Python objects (only for files you trust)."""

    def __post_init__(self) -> None:
        check_choices(self)


@dataclass(frozen=True)
class BoxesSettings:
    """How boxes are extracted (params section `boxes`)."""

    SECTION: ClassVar[str] = "boxes"

    rules: BoxRules = field(default_factory=lambda: AUTHORS_RULES)
    """Box filtering, phrase matching and position rules (the authors' by default)."""
    batch_size: int = 4
    """Images per detector forward pass."""
    shard_size: int = field(default=64, metadata={"affects_result": False})
    """Images per progress shard (the unit of resumption after a crash)."""
    strict: bool = False
    """Fail on an unreadable image instead of recording it."""
    device: str | None = field(default=None, metadata={"affects_result": False})
    """Torch device (none: CUDA when available, else CPU)."""

    def __post_init__(self) -> None:
        if self.batch_size < 1 or self.shard_size < 1:
            raise FiloError(f"boxes.batch_size and boxes.shard_size must be at least 1, got {self.batch_size} and "
                            f"{self.shard_size}")


def _relative(path: Path, start: Path) -> str:
    return os.path.relpath(Path(path).resolve(), start.resolve())


def prepare_detector(
    out: str | os.PathLike, settings: DetectorSettings = DetectorSettings(), *, descriptions_texts=()
) -> Path:
    """Write the detector folder `out` (see the module docstring); returns `out`.

    `descriptions_texts` add words to the tiny detector's vocabulary (default: the shipped
    description tables). A real detector is loaded once here, so a wrong checkpoint or text
    encoder fails this stage, not hours later.
    """
    from filo.io import atomic_write_text

    out = Path(out)
    if settings.kind == "tiny":
        from filo.boxes.tiny import CHECKPOINT_FILE, CONFIG_FILE, TEXT_ENCODER_DIR, make_tiny_detector

        texts = list(descriptions_texts) or _shipped_description_texts()
        make_tiny_detector(out, texts=texts, seed=settings.seed)
        spec = {"kind": "tiny", "config": CONFIG_FILE, "checkpoint": CHECKPOINT_FILE,
                "text_encoder": TEXT_ENCODER_DIR, "trust_checkpoint": False}
        logger.info("wrote the tiny demo detector (meaningless boxes) to %s", out)
    else:
        from filo.boxes.detector import load_detector, resolve_config_path

        if settings.checkpoint is None:
            raise FiloError("detector.kind grounding_dino needs detector.checkpoint (a Grounding DINO .pth file)")
        out.mkdir(parents=True, exist_ok=True)
        load_detector(settings.config, settings.checkpoint, text_encoder=_optional_str(settings.text_encoder),
                      device="cpu", trust_pickle=settings.trust_checkpoint)
        config = Path(settings.config)
        config_name = settings.config if config.parent == Path(".") and not config.is_file() else None
        spec = {
            "kind": "grounding_dino",
            "config": config_name or _relative(resolve_config_path(settings.config), out),
            "checkpoint": _relative(settings.checkpoint, out),
            "text_encoder": _relative(settings.text_encoder, out) if settings.text_encoder else None,
            "trust_checkpoint": settings.trust_checkpoint,
        }
        logger.info("detector %s checked and recorded in %s", settings.checkpoint, out)
    atomic_write_text(out / SPEC_FILE, json.dumps(spec, indent=2, sort_keys=True) + "\n")
    return out


def _optional_str(path: Path | None) -> str | None:
    return None if path is None else str(path)


def _shipped_description_texts() -> list[str]:
    from filo.descriptions.defaults import load_shipped_defaults

    return [text for entry in load_shipped_defaults().values() for text in entry.descriptions]


def open_detector(detector_dir: str | os.PathLike, *, device: str | None = None):
    """Load the detector a `prepare_detector` folder describes (FiloError naming the folder when it is not one)."""
    from filo.boxes.detector import load_detector

    detector_dir = Path(detector_dir)
    spec_path = detector_dir / SPEC_FILE
    if not spec_path.is_file():
        raise FiloError(f"{detector_dir} is not a detector folder (no {SPEC_FILE}); create it with "
                        "`filo boxes detector --out DIR` (the pipeline's detector stage)")
    spec = json.loads(spec_path.read_text(encoding="utf-8"))

    def local(name: str | None) -> str | None:
        return None if name is None else str(detector_dir / name)

    config = spec["config"]
    config_path = local(config) if (detector_dir / config).is_file() else config
    return load_detector(config_path, local(spec["checkpoint"]), text_encoder=local(spec["text_encoder"]),
                         device=device, trust_pickle=bool(spec.get("trust_checkpoint")))


def extract_boxes_stage(
    manifest: str | os.PathLike,
    descriptions: str | os.PathLike,
    detector: str | os.PathLike,
    out: str | os.PathLike,
    settings: BoxesSettings = BoxesSettings(),
) -> Path:
    """Run the detector folder `detector` over the test images of `manifest`; the boxes artifact goes to `out`."""
    from filo.boxes.extract import extract_boxes

    model = open_detector(detector, device=settings.device)
    logger.info("detector %s on %s", model.identity, model.device)
    path = extract_boxes(manifest, descriptions, out, model, rules=settings.rules, batch_size=settings.batch_size,
                         shard_size=settings.shard_size, strict=settings.strict)
    logger.info("wrote boxes to %s", path)
    return path


DETECTOR = StageSpec(
    ("boxes-detector",), prepare_detector, DetectorSettings,
    (path_out("out", "detector folder to write", required=True),),
    help="make the detector folder `filo boxes` runs: a tiny random one (demo) or a checked real one",
    description="Write DIR/detector.json (and, for the tiny demo detector, its config, checkpoint and text "
    "encoder, with MEANINGLESS boxes). A real Grounding DINO is loaded once here to check it.",
)
"""`filo boxes-detector`: the detector folder of the boxes stages."""

BOXES = StageSpec(
    ("boxes",), extract_boxes_stage, BoxesSettings,
    (path_in("manifest", "manifest Parquet (from `filo data index`)", required=True, dataset=True),
     path_in("descriptions", "descriptions JSON (from `filo describe`)", required=True, dataset=True),
     path_in("detector", "detector folder (from `filo boxes-detector`)", required=True),
     path_out("out", "output Parquet path", required=True)),
    help="extract Grounding DINO boxes for the test images of a manifest (resumable)",
    description="Run Grounding DINO over the test images of a manifest with the FiLo caption and rules; "
    "write one Parquet row per kept box. Progress is kept in OUT.shards/ and resumed on restart.",
    fanout="manifest",
)
"""`filo boxes`: one dataset's boxes; a fanned-out run splits its manifest's test images into shards."""
