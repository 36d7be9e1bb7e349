"""Preflight check of the CLIP weights the training preset needs: can `filo train` obtain them?

A local file must load into the preset's CLIP (and name its tag); a tag must be in the
Hugging Face cache or reachable on the Hub; the tiny preset's random CLIP is the demo's by
design. The preset is read as data (its file, through `filo.presets`, with
`train.model_overrides` on top), not through the model code, so a code edit in filo/model or
filo/training does not rerun the preflight; an edit of a preset file does (filo.presets is in
its import closure).
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any

from filo.errors import FiloError
from filo.presets import read_preset

if TYPE_CHECKING:  # the doctor passes the context in: the stages of this package never import the preflight
    from filo.preflight import CheckContext

TRAIN_SECTION = "train"
"""The params section naming the training preset (`model_preset`, `model_overrides`: fields of TrainParams)."""
DEFAULT_MODEL_PRESET = "paper"
"""TrainParams.model_preset's default (a test keeps the two equal)."""


def preset_clip(preset: str, overrides: dict[str, Any]) -> dict[str, Any]:
    """The CLIP fields (clip_name, clip_pretrained, clip_weights_tag, image_size) of a preset with its overrides."""
    values = {**read_preset(preset), **overrides}
    return {key: values.get(key) for key in ("clip_name", "clip_pretrained", "clip_weights_tag", "image_size")}


def check_clip(context: CheckContext) -> None:
    """One finding for the CLIP weights of the training preset (params section `train`)."""
    try:
        train = context.section(TRAIN_SECTION)
        preset = train.get("model_preset", DEFAULT_MODEL_PRESET)
        overrides = train.get("model_overrides") or {}
        if not isinstance(overrides, dict):
            raise FiloError(f"train.model_overrides must be a mapping of FiLoConfig fields, found {overrides!r}")
        clip = preset_clip(preset, overrides)
    except FiloError as error:
        context.add("CLIP weights", False, str(error), fix="fix the train: section")
        return
    name, pretrained = clip["clip_name"], clip["clip_pretrained"]
    check = f"CLIP weights {name}"
    if pretrained is None and preset == "tiny":
        context.add(check, True, "random weights by design (model_preset tiny: the demo's CLIP)")
        return
    if pretrained is None:
        context.add(check, False, "train.model_overrides.clip_pretrained is null: the model would be random",
                    fix="remove the override (OpenAI weights) or point it at a local checkpoint")
        return
    local_fix = (
        f"on a machine with network: python -c \"import open_clip, torch; torch.save(open_clip.create_model("
        f"'{name}', pretrained='openai').state_dict(), 'clip.pt')\", copy clip.pt here (e.g. "
        "models/clip/clip.pt) and set train.model_overrides: {clip_pretrained: models/clip/clip.pt, "
        "clip_weights_tag: openai}"
    )
    from filo.clip.weights import (
        check_model_name,
        create_from_local_checkpoint,
        is_local_checkpoint,
        local_build_options,
    )

    path = context.path(pretrained)
    if path.is_file() or is_local_checkpoint(pretrained):
        try:
            check_model_name(name)
            options = local_build_options(name, str(path), clip["clip_weights_tag"])
            create_from_local_checkpoint(name, path, {"force_image_size": clip["image_size"], **options})
        except FiloError as error:
            context.add(check, False, str(error), fix=local_fix)
            return
        context.add(check, True, f"{pretrained} loads as tag {clip['clip_weights_tag']!r}")
        return
    _check_clip_tag(context, check, name, pretrained, local_fix)


def _check_clip_tag(context: CheckContext, check: str, name: str, tag: str, fix: str) -> None:
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
    reachable, detail = context.probe(url)
    if reachable:
        context.add(check, True, f"tag {tag!r} not cached; {url} is reachable ({detail})")
    else:
        context.add(check, False, f"tag {tag!r} is not cached and {url} is not reachable ({detail})", fix=fix)
