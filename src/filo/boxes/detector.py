"""Build a Grounding DINO detector (groundingdino-py) from config + checkpoint + text encoder and run it.

Any checkpoint groundingdino-py can load is accepted: ``{"model": state_dict}`` or a
bare state dict, with or without ``module.`` prefixes. Missing, unexpected and
shape-mismatched keys are logged as a warning; a checkpoint that leaves more than
half of the model's parameters uninitialized is refused.
"""

from __future__ import annotations

import contextlib
import io
import logging
import os
import pickle
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from filo.boxes.rules import PhraseDecoder
from filo.device import resolve_device
from filo.errors import FiloError
from filo.io import sha256_file
from filo.kernels import use_reproducible_kernels

LOGGER = logging.getLogger(__name__)
MAX_UNINITIALIZED_FRACTION = 0.5
MAX_LOGGED_KEYS = 25
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
MAX_IMAGE_SIDE = 1333
TOO_FEW_TOKENS = "selected index k out of range"
"""torch's topk error when Grounding DINO picks its queries among fewer encoder tokens (too small an image)."""


@dataclass(frozen=True)
class LoadReport:
    """What a checkpoint did not cover: key lists and the fraction of parameter values left uninitialized."""

    missing: tuple[str, ...] = ()
    unexpected: tuple[str, ...] = ()
    mismatched: tuple[str, ...] = ()
    uninitialized_fraction: float = 0.0

    @property
    def clean(self) -> bool:
        """True when every model tensor was loaded and nothing was left over."""
        return not (self.missing or self.unexpected or self.mismatched)


@dataclass
class GroundingDetector:
    """A loaded Grounding DINO model (tokenizer at ``model.tokenizer``) and its identity for the artifact."""

    model: torch.nn.Module
    device: str
    identity: dict = field(default_factory=dict)

    def predict(self, images: torch.Tensor, caption: str) -> tuple[np.ndarray, np.ndarray]:
        """Sigmoid token probabilities (B, queries, tokens) and normalized cxcywh boxes (B, queries, 4).

        `images` is a (B, 3, H, W) batch of equally sized normalized images, all with `caption`.
        """
        try:
            with torch.no_grad():
                outputs = self.model(images.to(self.device), captions=[caption] * images.shape[0])
        except RuntimeError as error:
            if TOO_FEW_TOKENS not in str(error):
                raise
            queries = getattr(self.model, "num_queries", "its")
            raise FiloError(
                f"Grounding DINO found fewer encoder tokens in {images.shape[-2]}x{images.shape[-1]}-pixel images "
                f"than its {queries} queries: raise boxes.rules.image_size, the shorter side images are resized "
                "to (the paper profile's 518 suits Swin-T OGC, which needs about 210 or more)"
            ) from error
        probs = outputs["pred_logits"].float().sigmoid().cpu().numpy()
        boxes = outputs["pred_boxes"].float().cpu().numpy()
        return probs, boxes

    def phrase_decoder(self, caption: str) -> PhraseDecoder:
        """A function turning a boolean token mask (as produced by `rules`) into the phrase for `caption`."""
        from groundingdino.util.utils import get_phrases_from_posmap

        tokenizer = self.model.tokenizer
        tokenized = tokenizer(caption)

        def decode(posmap: np.ndarray) -> str:
            return get_phrases_from_posmap(torch.from_numpy(np.asarray(posmap, dtype=bool)), tokenized, tokenizer)

        return decode


def load_detector_image(path: str | os.PathLike, image_size: int) -> torch.Tensor:
    """An image as Grounding DINO expects it: RGB, shorter side `image_size` (longer <= 1333), ImageNet-normalized.

    Pixels come from `filo.data.images.load_rgb`, like every other consumer (16-bit scaling,
    palette, alpha, CMYK, EXIF orientation, size limit).
    """
    import groundingdino.datasets.transforms as T  # heavy: loaded only when a detector is used

    from filo.data.images import load_rgb

    rgb = load_rgb(path)
    transform = T.Compose(
        [
            T.RandomResize([image_size], max_size=MAX_IMAGE_SIDE),
            T.ToTensor(),
            T.Normalize(list(IMAGENET_MEAN), list(IMAGENET_STD)),
        ]
    )
    tensor, _ = transform(rgb, None)
    return tensor


def resolve_config_path(config: str | os.PathLike) -> Path:
    """A config file path, or the groundingdino-py bundled config of that name (e.g. "GroundingDINO_SwinT_OGC")."""
    import groundingdino  # heavy: loaded only when a detector is used

    path = Path(config)
    if path.is_file():
        return path
    bundled = Path(groundingdino.__file__).parent / "config" / f"{path.name.removesuffix('.py')}.py"
    if path.parent == Path(".") and bundled.is_file():
        return bundled
    raise FiloError(
        f"Grounding DINO config {config} does not exist; pass --config with a config .py file or a bundled name "
        "such as GroundingDINO_SwinT_OGC"
    )


def config_relative_text_encoder(config_file: Path, text_encoder_type: str) -> str | None:
    """The folder a relative `text_encoder_type` names next to the config file, if it exists there.

    A config that names its text encoder relative to itself (as `filo boxes-detector --kind tiny` writes
    it) stays valid wherever the folder is moved and holds no machine path.
    """
    if Path(text_encoder_type).is_absolute():
        return None
    candidate = config_file.parent / text_encoder_type
    return str(candidate) if candidate.is_dir() else None


def build_model(config_path: str | os.PathLike, text_encoder: str | None, device: str) -> torch.nn.Module:
    """An uninitialized Grounding DINO from a groundingdino-py config file, text encoder overridden if given.

    Without `text_encoder`, a relative `text_encoder_type` of the config that names a folder next to
    the config file is resolved there; any other value goes to transformers as written (hub name).
    """
    from groundingdino.models import build_model as build_groundingdino
    from groundingdino.util.slconfig import SLConfig  # heavy: loaded only when a detector is used

    config_file = resolve_config_path(config_path)
    config = SLConfig.fromfile(str(config_file))
    if text_encoder is None:
        text_encoder = config_relative_text_encoder(config_file, config.text_encoder_type)
    if text_encoder is not None:
        if not Path(text_encoder).is_dir():
            raise FiloError(
                f"text encoder directory {text_encoder} does not exist; pass --text-encoder with a BERT directory "
                "(config.json, weights, vocab.txt)"
            )
        config.text_encoder_type = str(Path(text_encoder).resolve())
    config.device = device
    try:
        with contextlib.redirect_stdout(io.StringIO()):
            return build_groundingdino(config)
    except OSError as error:
        raise FiloError(
            f"could not load the text encoder {config.text_encoder_type!r} ({error}); pass --text-encoder "
            "with a local BERT directory"
        ) from error


def _torch_load(checkpoint_path: Path, *, trust_pickle: bool = False):
    """Load a checkpoint file with `weights_only=True`; a full pickle only when the user trusts the file."""
    try:
        try:
            return torch.load(checkpoint_path, map_location="cpu", weights_only=True)
        except pickle.UnpicklingError as error:
            if "Weights only load failed" not in str(error):
                raise
            if not trust_pickle:
                raise FiloError(
                    f"checkpoint {checkpoint_path} holds non-tensor Python objects, which can run code when "
                    "unpickled; if it comes from a source you trust, pass --trust-checkpoint"
                ) from error
            LOGGER.warning("checkpoint %s holds non-tensor objects; loading it as a trusted pickle", checkpoint_path)
            return torch.load(checkpoint_path, map_location="cpu", weights_only=False)
    except (RuntimeError, EOFError, pickle.UnpicklingError) as error:
        raise FiloError(f"checkpoint {checkpoint_path} is not a readable torch file ({error})") from error


def read_checkpoint_state(checkpoint_path: str | os.PathLike, *, trust_pickle: bool = False) -> dict:
    """The state dict of a checkpoint file (``{"model": ...}`` unwrapped, ``module.`` prefixes removed)."""
    checkpoint_path = Path(checkpoint_path)
    if not checkpoint_path.is_file():
        raise FiloError(f"checkpoint {checkpoint_path} does not exist; pass --checkpoint with a .pth file")
    checkpoint = _torch_load(checkpoint_path, trust_pickle=trust_pickle)
    state = checkpoint.get("model", checkpoint) if isinstance(checkpoint, dict) else None
    if not isinstance(state, dict):
        raise FiloError(f"checkpoint {checkpoint_path} holds no state dict (expected {{'model': state_dict}})")
    return {key.removeprefix("module."): value for key, value in state.items()}


def _key_summary(kind: str, keys: tuple[str, ...]) -> str:
    """'N <kind> keys [first keys, ...]', listing at most MAX_LOGGED_KEYS of them."""
    shown = ", ".join(keys[:MAX_LOGGED_KEYS])
    more = f", ... {len(keys) - MAX_LOGGED_KEYS} more (see debug log)" if len(keys) > MAX_LOGGED_KEYS else ""
    return f"{len(keys)} {kind} keys [{shown}{more}]"


def load_state_reported(model: torch.nn.Module, state: dict, *, source: str = "checkpoint") -> LoadReport:
    """Load `state` into `model` non-strictly, log every gap loudly, refuse a mostly uninitialized model."""
    expected = model.state_dict()
    mismatched = tuple(
        sorted(key for key, value in state.items() if key in expected and value.shape != expected[key].shape)
    )
    loadable = {key: value for key, value in state.items() if key in expected and key not in mismatched}
    result = model.load_state_dict(loadable, strict=False)
    missing = tuple(sorted(set(result.missing_keys) - set(mismatched)))
    total = sum(tensor.numel() for tensor in expected.values())
    uninitialized = sum(expected[key].numel() for key in (*missing, *mismatched))
    report = LoadReport(
        missing=missing,
        unexpected=tuple(sorted(key for key in state if key not in expected)),
        mismatched=mismatched,
        uninitialized_fraction=uninitialized / total if total else 0.0,
    )
    if not report.clean:
        LOGGER.warning(
            "%s does not match the model (%.1f%% of parameter values left uninitialized): %s; %s; %s",
            source,
            100 * report.uninitialized_fraction,
            _key_summary("missing", report.missing),
            _key_summary("unexpected", report.unexpected),
            _key_summary("shape-mismatched", report.mismatched),
        )
        LOGGER.debug("full key report of %s: %s", source, report)
    if report.uninitialized_fraction > MAX_UNINITIALIZED_FRACTION:
        raise FiloError(
            f"{source} leaves {100 * report.uninitialized_fraction:.0f}% of the model's parameters uninitialized; "
            "it does not belong to this config (check --config and --checkpoint)"
        )
    return report


def load_detector(
    config_path: str | os.PathLike,
    checkpoint_path: str | os.PathLike,
    *,
    text_encoder: str | None = None,
    device: str | None = None,
    trust_pickle: bool = False,
) -> GroundingDetector:
    """Build the model from `config_path`, load `checkpoint_path` into it (reported), move it to `device`.

    `trust_pickle` allows checkpoints that hold arbitrary pickled objects (only for trusted files).
    """
    device = resolve_device(device)
    use_reproducible_kernels()
    model = build_model(config_path, text_encoder, device)
    state = read_checkpoint_state(checkpoint_path, trust_pickle=trust_pickle)
    load_state_reported(model, state, source=f"checkpoint {checkpoint_path}")
    model.eval().to(device)
    identity = {
        "config": Path(config_path).stem,
        "checkpoint_sha256": sha256_file(checkpoint_path),
        "text_encoder": Path(str(model.bert.config.name_or_path)).name,
    }
    return GroundingDetector(model=model, device=device, identity=identity)
