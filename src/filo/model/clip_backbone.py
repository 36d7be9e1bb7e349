"""Build the frozen upstream open_clip model that FiLo runs on.

One path from a name to a model, as in open_clip's factory: `create_clip(name,
pretrained, image_size)`. `pretrained` is an open_clip tag ("openai"), a local
checkpoint path, or None for a seeded random initialisation (tests, demo profile).
Positional embeddings are resized by open_clip when `image_size` differs from the
checkpoint's (e.g. ViT-L-14-336 at 518: 24x24 -> 37x37 grid).

Where the weights come from (tags, local checkpoints naming their tag) is `filo.clip.weights`.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import open_clip
import torch

from filo.clip.weights import (
    CUSTOM_WEIGHTS,
    TINY_CLIP_NAME,
    check_model_name,
    create_from_local_checkpoint,
    expected_random_init,
    is_local_checkpoint,
    local_build_options,
    tag_build_options,
    tag_config,
)
from filo.errors import FiloError

logger = logging.getLogger(__name__)

__all__ = ["CUSTOM_WEIGHTS", "TINY_CLIP_NAME", "ClipBundle", "create_clip", "eval_transform"]


@dataclass(frozen=True)
class ClipBundle:
    """The frozen CLIP model plus the tokenizer and image preprocessing that belong to it."""

    model: open_clip.CLIP
    tokenizer: object
    preprocess: object
    image_size: int


def create_clip(
    name: str,
    pretrained: str | None,
    image_size: int,
    *,
    seed: int = 0,
    weights_tag: str | None = None,
    resize_mode: str = "squash",
    device: str | torch.device = "cpu",
    cache_dir: str | None = None,
) -> ClipBundle:
    """Create an eval-mode, gradient-free open_clip model at `image_size`.

    `pretrained`: an open_clip pretrained tag (downloaded to `cache_dir`), a local
    checkpoint file, or None for random weights drawn from `seed` (same seed, same weights).
    `weights_tag`: for a local checkpoint (and only then, required), the open_clip tag whose
    weights the file holds, e.g. "openai"; the model gets that tag's activation and preprocessing.
    CUSTOM_WEIGHTS ("custom") states that the file is no copy of a tag.
    `resize_mode` is the preprocessing geometry ("squash" or "shortest", see FiLoConfig); it
    replaces the tag's, as the authors' fork squashes.
    """
    check_model_name(name)
    kwargs: dict = {"force_image_size": image_size, "device": device, "cache_dir": cache_dir}
    local = pretrained is not None and is_local_checkpoint(pretrained)
    if weights_tag is not None and not local:
        raise FiloError(
            f"weights_tag {weights_tag!r} only applies to a local CLIP checkpoint file, but pretrained is "
            f"{pretrained!r}; drop weights_tag (a tag names its own activation and preprocessing)"
        )
    if pretrained is None:
        with torch.random.fork_rng(devices=[]), expected_random_init():
            torch.manual_seed(seed)
            model = open_clip.create_model(name, pretrained=None, **kwargs)
        logger.info("%s: random weights from seed %d (no pretrained checkpoint)", name, seed)
    elif local:
        kwargs.update(local_build_options(name, pretrained, weights_tag))
        model = create_from_local_checkpoint(name, Path(pretrained), kwargs)
    else:
        kwargs.update(tag_build_options(tag_config(name, pretrained, "pretrained")))
        model = open_clip.create_model(name, pretrained=pretrained, **kwargs)
    model.eval()
    model.requires_grad_(False)
    preprocess = eval_transform(image_size, model.visual.preprocess_cfg, resize_mode)
    return ClipBundle(model=model, tokenizer=open_clip.get_tokenizer(name), preprocess=preprocess,
                      image_size=image_size)


def eval_transform(image_size: int, preprocess_cfg: dict, resize_mode: str):
    """The evaluation preprocessing of a CLIP model: `preprocess_cfg`'s mean, std and interpolation,
    `resize_mode` geometry, at `image_size` (also how an exported model rebuilds it without the CLIP)."""
    return open_clip.image_transform(
        image_size,
        is_train=False,
        mean=preprocess_cfg["mean"],
        std=preprocess_cfg["std"],
        interpolation=preprocess_cfg["interpolation"],
        resize_mode=resize_mode,
    )
