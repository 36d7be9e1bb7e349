"""Build the frozen upstream open_clip model that FiLo runs on.

One path from a name to a model, as in open_clip's factory: `create_clip(name,
pretrained, image_size)`. `pretrained` is an open_clip tag ("openai"), a local
checkpoint path, or None for a seeded random initialisation (tests, demo profile).
Positional embeddings are resized by open_clip when `image_size` differs from the
checkpoint's (e.g. ViT-L-14-336 at 518: 24x24 -> 37x37 grid).
"""

from __future__ import annotations

import contextlib
import logging
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import open_clip
import torch

from filo.errors import FiloError

logger = logging.getLogger(__name__)

TINY_CLIP_NAME = "filo-tiny"
"""A few-layer, narrow ViT CLIP registered with open_clip for tests and the demo profile."""

_CONFIG_DIR = Path(__file__).parent / "configs"
open_clip.add_model_config(_CONFIG_DIR)


@dataclass(frozen=True)
class ClipBundle:
    """The frozen CLIP model plus the tokenizer and image preprocessing that belong to it."""

    model: open_clip.CLIP
    tokenizer: object
    preprocess: object
    image_size: int


@contextlib.contextmanager
def _expected_random_init() -> Iterator[None]:
    """Silence open_clip's warning that no weights were loaded, when random weights are what we asked for."""

    def drop(record: logging.LogRecord) -> bool:
        return not record.getMessage().startswith("No pretrained weights loaded")

    root = logging.getLogger()
    root.addFilter(drop)
    try:
        yield
    finally:
        root.removeFilter(drop)


def _is_local_checkpoint(pretrained: str) -> bool:
    return os.path.sep in pretrained or pretrained.endswith((".pt", ".pth", ".bin", ".safetensors"))


def create_clip(
    name: str,
    pretrained: str | None,
    image_size: int,
    *,
    seed: int = 0,
    resize_mode: str = "squash",
    device: str | torch.device = "cpu",
    cache_dir: str | None = None,
) -> ClipBundle:
    """Create an eval-mode, gradient-free open_clip model at `image_size`.

    `pretrained`: an open_clip pretrained tag (downloaded to `cache_dir`), a local
    checkpoint file, or None for random weights drawn from `seed` (same seed, same weights).
    `resize_mode` is the preprocessing geometry ("squash" or "shortest", see FiLoConfig).
    """
    if name not in open_clip.list_models():
        raise FiloError(
            f"unknown CLIP model {name!r}; use one of open_clip.list_models(), e.g. 'ViT-L-14-336' "
            f"or {TINY_CLIP_NAME!r}"
        )
    kwargs: dict = {"force_image_size": image_size, "device": device, "cache_dir": cache_dir}
    if pretrained is None:
        with torch.random.fork_rng(devices=[]), _expected_random_init():
            torch.manual_seed(seed)
            model = open_clip.create_model(name, pretrained=None, **kwargs)
        logger.info("%s: random weights from seed %d (no pretrained checkpoint)", name, seed)
    elif _is_local_checkpoint(pretrained):
        if not Path(pretrained).is_file():
            raise FiloError(f"CLIP checkpoint {pretrained!r} does not exist; pass an existing file or a tag")
        model = _create_from_local_checkpoint(name, Path(pretrained), kwargs)
    else:
        tag_cfg = open_clip.get_pretrained_cfg(name, pretrained)
        if not tag_cfg:
            raise FiloError(
                f"{pretrained!r} is neither a file nor a pretrained tag of {name!r}; "
                f"tags: {open_clip.list_pretrained_tags_by_model(name)}"
            )
        # OpenAI's weights were trained with QuickGELU; open_clip only warns on a mismatch.
        kwargs["force_quick_gelu"] = bool(tag_cfg.get("quick_gelu", False))
        model = open_clip.create_model(name, pretrained=pretrained, **kwargs)
    model.eval()
    model.requires_grad_(False)
    preprocess = open_clip.image_transform(
        image_size,
        is_train=False,
        mean=model.visual.preprocess_cfg.get("mean") if hasattr(model.visual, "preprocess_cfg") else None,
        std=model.visual.preprocess_cfg.get("std") if hasattr(model.visual, "preprocess_cfg") else None,
        resize_mode=resize_mode,
    )
    return ClipBundle(model=model, tokenizer=open_clip.get_tokenizer(name), preprocess=preprocess,
                      image_size=image_size)


def _create_from_local_checkpoint(name: str, path: Path, kwargs: dict) -> open_clip.CLIP:
    """Build `name` at the requested size and load a local checkpoint into it, loudly on mismatch."""
    with _expected_random_init():
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
