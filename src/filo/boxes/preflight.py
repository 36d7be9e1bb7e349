"""Preflight check of the detector stage's inputs: the Grounding DINO config, BERT text encoder and checkpoint.

The BERT folder must load, and the checkpoint must load into the config's model with no
missing or mis-shaped keys. The tiny detector (`detector.kind: tiny`) is built by the
pipeline and needs nothing.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from filo.errors import FiloError

if TYPE_CHECKING:  # the doctor passes the context in: the stages of this package never import the preflight
    from filo.preflight import CheckContext

GROUNDING_DINO_SWINT_OGC_URL = (
    "https://github.com/IDEA-Research/GroundingDINO/releases/download/v0.1.0-alpha/groundingdino_swint_ogc.pth"
)
BERT_FIX = (
    "on a machine with network: python -c \"from transformers import BertModel, BertTokenizer; "
    "[c.from_pretrained('bert-base-uncased').save_pretrained('{path}') for c in (BertModel, BertTokenizer)]\" "
    "and copy the folder to {path}"
)


def check_detector(context: CheckContext) -> None:
    """Findings for the detector config, its BERT text encoder and its checkpoint (params section `detector`)."""
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
        context.add("Grounding DINO", False, f"{context.params} has no detector.checkpoint",
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


def _check_bert(context: CheckContext, path: Path) -> bool:
    """Whether the BERT text-encoder folder loads (a finding either way)."""
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
