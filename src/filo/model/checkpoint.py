"""FiLo checkpoint files: trainable weights + config, and the authors' released format.

A filo checkpoint is `{"format": "filo", "version": 2, "config": {...}, "state_dict": {...},
"content_sha256": "..."}` holding only the trainable weights; the frozen CLIP is referenced by
the config (name + pretrained tag/path), never copied. Files are read with `weights_only=True`.
The content hash (`filo.integrity`) is written at save and verified at every load, so a
corrupted file is refused; version-1 files (before the hash) still load, with a warning.

The authors release `{"filo": state_dict}` of their module (keys `decoder_cov.*`,
`decoder_linear.*`, `normal_prompt_learner.*`, `abnormal_prompt_learner.*`,
`adapter.*`, plus frozen CLIP weights that are ignored); `authors_to_filo_state_dict`
maps their names onto ours. They carry no hash and are recognized by that known format.
"""

from __future__ import annotations

import io
import logging
import os
import re
from pathlib import Path

import torch

from filo.errors import FiloError
from filo.integrity import seal, verify
from filo.io import atomic_write_bytes
from filo.model.config import FiLoConfig
from filo.model.factory import create_model
from filo.model.filo import FiLo

logger = logging.getLogger(__name__)

CHECKPOINT_FORMAT = "filo"
CHECKPOINT_VERSION = 2
UNHASHED_CHECKPOINT_VERSION = 1
"""Checkpoints written before content hashes: still read, with a warning that they cannot be verified."""

_AUTHORS_MMCI_BRANCHES = {
    "fc_11": "conv1x1",
    "fc_33": "conv3x3",
    "fc_55": "conv5x5",
    "fc_77": "conv7x7",
    "fc_15": "conv1x5",
    "fc_51": "conv5x1",
}
_AUTHORS_FROZEN_PREFIXES = ("clip_model.", "text_encoder.")
_AUTHORS_RULES: list[tuple[re.Pattern[str], str]] = [
    (re.compile(r"^decoder_linear\.fc\.(\d+)\.(weight|bias)$"), r"linear_heads.fc.\1.\2"),
    (re.compile(r"^decoder_cov\.(fc_\d\d)\.(\d+)\.(weight|bias)$"), "mmci"),
    (re.compile(r"^(normal_prompt_learner|abnormal_prompt_learner)\.(.+)$"), r"text.\1.\2"),
    (re.compile(r"^adapter\.(.+)$"), r"adapter.\1"),
]


def save_checkpoint(model: FiLo, path: str | os.PathLike) -> None:
    """Write the model's trainable weights and config to `path` atomically."""
    payload = seal({
        "format": CHECKPOINT_FORMAT,
        "version": CHECKPOINT_VERSION,
        "config": model.config.to_dict(),
        "state_dict": {k: v.detach().cpu() for k, v in model.trainable_state_dict().items()},
    })
    buffer = io.BytesIO()
    torch.save(payload, buffer)
    atomic_write_bytes(path, buffer.getvalue())


def read_payload(path: Path) -> dict:
    """The dict stored in a checkpoint file: a readable torch dict, its content hash checked (filo format).

    Raises FiloError when a filo checkpoint's contents do not match its hash.
    """
    if not path.is_file():
        raise FiloError(f"checkpoint {path} does not exist")
    try:
        payload = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as error:  # torch raises many types for corrupt/foreign files
        raise FiloError(
            f"checkpoint {path} cannot be read ({type(error).__name__}: {error}); "
            "it is corrupt or not a torch file"
        ) from error
    if not isinstance(payload, dict):
        raise FiloError(f"checkpoint {path} holds a {type(payload).__name__}, expected a dict")
    if payload.get("format") != CHECKPOINT_FORMAT:
        return payload
    if payload.get("version") == UNHASHED_CHECKPOINT_VERSION:
        logger.warning("checkpoint %s was written before content hashes (version 1) and cannot be verified; "
                       "re-save it with this filo (load_checkpoint + save_checkpoint) to add one", path)
        return payload
    if payload.get("version") != CHECKPOINT_VERSION:
        raise FiloError(f"checkpoint {path} has version {payload.get('version')}; this filo reads "
                        f"{UNHASHED_CHECKPOINT_VERSION} and {CHECKPOINT_VERSION}")
    return verify(payload, path, what="checkpoint",
                  hint="it was changed or damaged after it was written: restore it from DVC/MLflow or re-train")


def load_checkpoint(
    path: str | os.PathLike,
    *,
    config: FiLoConfig | None = None,
    model: FiLo | None = None,
) -> FiLo:
    """Build (or fill `model`) from a filo checkpoint or one of the authors' released files.

    A filo checkpoint carries its config. The authors' files do not: pass `config`
    (e.g. `preset_config("paper")` for ViT-L-14-336 at 518 with their taps).
    """
    path = Path(path)
    payload = read_payload(path)
    if payload.get("format") == CHECKPOINT_FORMAT:
        saved_config = FiLoConfig.from_dict(payload["config"])
        if config is not None and config != saved_config:
            raise FiloError(f"checkpoint {path} was saved with a different config than the one passed")
        config, state_dict = saved_config, payload["state_dict"]
    elif "filo" in payload:
        if config is None and model is None:
            raise FiloError(
                f"{path} is an authors' checkpoint without a config; pass config=preset_config('paper') "
                "(ViT-L-14-336, openai, 518px) or the config it was trained with"
            )
        state_dict = authors_to_filo_state_dict(payload["filo"])
    else:
        raise FiloError(
            f"{path} is neither a filo checkpoint (format='filo') nor an authors' checkpoint "
            f"(a dict with key 'filo'); top-level keys: {sorted(payload)[:10]}"
        )
    if model is None:
        model = FiLo(config)
    load_trainable_weights(model, state_dict, source=str(path))
    return model


def authors_to_filo_state_dict(state_dict: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Rename the authors' trainable keys to filo's; their frozen CLIP weights are dropped.

    Keys that match no known rule are kept under their original name, so loading reports
    them as unexpected instead of silently ignoring them.
    """
    mapped: dict[str, torch.Tensor] = {}
    ignored = 0
    for key, value in state_dict.items():
        key = key.removeprefix("module.")
        if key.startswith(_AUTHORS_FROZEN_PREFIXES):
            ignored += 1
            continue
        mapped[_rename_authors_key(key)] = value
    logger.info("authors' checkpoint: ignored %d frozen CLIP tensors, mapped %d trainable ones", ignored, len(mapped))
    return mapped


def _rename_authors_key(key: str) -> str:
    for pattern, replacement in _AUTHORS_RULES:
        match = pattern.match(key)
        if not match:
            continue
        if replacement == "mmci":
            branch, index, kind = match.groups()
            if branch in _AUTHORS_MMCI_BRANCHES:
                return f"mmci_heads.{_AUTHORS_MMCI_BRANCHES[branch]}.{index}.{kind}"
            return key
        return match.expand(replacement)
    return key


def load_trainable_weights(model: FiLo, state_dict: dict[str, torch.Tensor], *, source: str) -> None:
    """Load exactly the model's trainable weights; any missing, unexpected or mis-shaped key is an error."""
    expected = model.trainable_state_dict()
    missing = sorted(set(expected) - set(state_dict))
    unexpected = sorted(set(state_dict) - set(expected))
    mismatched = sorted(
        f"{k}: checkpoint {tuple(state_dict[k].shape)} vs model {tuple(expected[k].shape)}"
        for k in set(expected) & set(state_dict)
        if tuple(state_dict[k].shape) != tuple(expected[k].shape)
    )
    if missing or unexpected or mismatched:
        raise FiloError(
            f"checkpoint {source} does not fit this FiLo model:\n"
            f"  missing keys ({len(missing)}): {missing}\n"
            f"  unexpected keys ({len(unexpected)}): {unexpected}\n"
            f"  shape mismatches ({len(mismatched)}): {mismatched}\n"
            "check that the config (CLIP model, layers, n_ctx) is the one it was trained with"
        )
    model.load_state_dict(state_dict, strict=False)


def write_initial_checkpoint(
    preset: str, out: str | os.PathLike, overrides: dict | None = None, *, seed: int = 0
) -> Path:
    """Write an untrained FiLo checkpoint of a preset config (heads and prompt learners initialized from `seed`)."""
    save_checkpoint(create_model(preset, seed=seed, **(overrides or {})), out)
    return Path(out)


def checkpoint_summary(path: str | os.PathLike) -> dict:
    """Format, config, tensor count and parameter count of a checkpoint file (filo's or the authors')."""
    payload = read_payload(Path(path))
    state = payload.get("state_dict") or payload.get("filo") or {}
    return {
        "format": payload.get("format", "authors" if "filo" in payload else "unknown"),
        "config": payload.get("config"),
        "tensors": len(state),
        "parameters": int(sum(t.numel() for t in state.values() if isinstance(t, torch.Tensor))),
    }
