"""Where a CLIP's weights come from: an open_clip tag, or a local checkpoint file that names its tag.

A tag carries more than weights: open_clip's pretrained config says whether the model
was trained with QuickGELU (all OpenAI models) and which preprocessing it expects
(mean, std, interpolation). None of that can be read from a checkpoint file (QuickGELU
and GELU have the same parameters), so a local checkpoint must name the tag whose
weights it holds (`weights_tag`), and is then built exactly as that tag would be.
Importing this module registers filo's own open_clip model configs (`configs/`).
"""

from __future__ import annotations

import contextlib
import logging
import os
import zipfile
from collections.abc import Iterator
from pathlib import Path

import open_clip

from filo.errors import FiloError

logger = logging.getLogger(__name__)

TINY_CLIP_NAME = "filo-tiny"
"""A few-layer, narrow ViT CLIP registered with open_clip for tests and the demo profile."""

CUSTOM_WEIGHTS = "custom"
"""`weights_tag` of a local checkpoint that is no copy of an open_clip tag (weights you trained):
the model config's own activation (open_clip's "-quickgelu" names for QuickGELU) and open_clip's
default preprocessing."""

_CONFIG_DIR = Path(__file__).parent / "configs"
open_clip.add_model_config(_CONFIG_DIR)


@contextlib.contextmanager
def expected_random_init() -> Iterator[None]:
    """Silence open_clip's warning that no weights were loaded, when random weights are what we asked for."""

    def drop(record: logging.LogRecord) -> bool:
        return not record.getMessage().startswith("No pretrained weights loaded")

    root = logging.getLogger()
    root.addFilter(drop)
    try:
        yield
    finally:
        root.removeFilter(drop)


def is_local_checkpoint(pretrained: str) -> bool:
    """Whether `pretrained` names a checkpoint file rather than an open_clip tag."""
    return os.path.sep in pretrained or pretrained.endswith((".pt", ".pth", ".bin", ".safetensors"))


def check_model_name(name: str) -> None:
    """FiloError unless open_clip knows model `name` (filo's own configs included)."""
    if name not in open_clip.list_models():
        raise FiloError(
            f"unknown CLIP model {name!r}; use one of open_clip.list_models(), e.g. 'ViT-L-14-336' "
            f"or {TINY_CLIP_NAME!r}"
        )


def tag_config(name: str, tag: str, what: str) -> dict:
    """open_clip's pretrained config of `name`/`tag`, or a FiloError naming the valid tags."""
    tag_cfg = open_clip.get_pretrained_cfg(name, tag)
    if not tag_cfg:
        raise FiloError(
            f"{what} {tag!r} is not a pretrained tag of {name!r}; tags: {open_clip.list_pretrained_tags_by_model(name)}"
        )
    return tag_cfg


def tag_build_options(tag_cfg: dict) -> dict:
    """What a tag decides beyond the weights: the activation and the preprocessing configuration.

    OpenAI's weights were trained with QuickGELU; open_clip only warns on a mismatch, so it is forced here.
    """
    preprocess = {key: tag_cfg[key] for key in ("mean", "std", "interpolation", "resize_mode") if key in tag_cfg}
    return {"force_quick_gelu": bool(tag_cfg.get("quick_gelu", False)), "force_preprocess_cfg": preprocess}


def local_build_options(name: str, pretrained: str, weights_tag: str | None) -> dict:
    """The open_clip build options of local checkpoint `pretrained` holding the weights of `weights_tag`.

    FiloError when no tag is named, the file does not exist, or the tag is not one of `name`'s.
    """
    if weights_tag is None:
        raise FiloError(
            f"local CLIP checkpoint {pretrained!r}: say which open_clip tag its weights are a copy of "
            f"(weights_tag / clip_weights_tag, e.g. 'openai' for OpenAI's weights, which need QuickGELU, "
            f"or {CUSTOM_WEIGHTS!r} for weights of your own); the activation and preprocessing cannot be "
            f"read from the file. Tags of {name!r}: {open_clip.list_pretrained_tags_by_model(name)}"
        )
    if not Path(pretrained).is_file():
        raise FiloError(f"CLIP checkpoint {pretrained!r} does not exist; pass an existing file or a tag")
    if weights_tag == CUSTOM_WEIGHTS:
        return {}
    return tag_build_options(tag_config(name, weights_tag, "weights_tag"))


def _is_torchscript_archive(path: Path) -> bool:
    """True for a TorchScript file (e.g. OpenAI's original ViT-L-14-336px.pt), which holds code, not a state dict."""
    if not zipfile.is_zipfile(path):
        return False
    with zipfile.ZipFile(path) as archive:
        return any(member.endswith("/constants.pkl") for member in archive.namelist())


def create_from_local_checkpoint(name: str, path: Path, kwargs: dict) -> open_clip.CLIP:
    """Build `name` with open_clip options `kwargs` and load a local checkpoint into it, loudly on mismatch."""
    if _is_torchscript_archive(path):
        raise FiloError(
            f"CLIP checkpoint {path} is a TorchScript archive (OpenAI's original file format), which filo does not "
            f"execute; convert it once to a state dict: python -c \"import torch; m = torch.jit.load('{path}', "
            f"map_location='cpu'); torch.save({{k: v for k, v in m.state_dict().items() if k not in "
            f"('input_resolution', 'context_length', 'vocab_size')}}, '{path.with_suffix('.state_dict.pt')}')\""
        )
    with expected_random_init():
        model = open_clip.create_model(name, pretrained=None, **kwargs)
    try:
        incompatible = open_clip.load_checkpoint(model, str(path), strict=False, weights_only=True)
    except RuntimeError as error:
        raise FiloError(f"CLIP checkpoint {path} does not fit model {name!r}: {error}") from error
    except Exception as error:
        raise FiloError(f"could not read CLIP checkpoint {path}: {error}") from error
    missing = list(getattr(incompatible, "missing_keys", []))
    unexpected = list(getattr(incompatible, "unexpected_keys", []))
    if missing or unexpected:
        raise FiloError(
            f"CLIP checkpoint {path} does not match model {name!r}: missing keys {missing[:10]}"
            f"{' ...' if len(missing) > 10 else ''}, unexpected keys {unexpected[:10]}"
            f"{' ...' if len(unexpected) > 10 else ''}; pick the model name the checkpoint was saved from"
        )
    logger.info("loaded CLIP weights for %s from %s", name, path)
    return model
