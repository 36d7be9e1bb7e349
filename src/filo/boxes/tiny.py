"""A tiny, randomly initialized Grounding DINO for the offline demo profile.

It is built with groundingdino-py's own config and model code (Swin-T backbone as in
``GroundingDINO_SwinT_OGC``, one encoder and one decoder layer, few queries, small
feed-forward width) and a tiny BERT text encoder created locally: a WordPiece
vocabulary (special tokens, punctuation, characters and ``##`` pieces so any text
tokenizes without ``[UNK]``, plus whole words of the captions), a small ``BertConfig``
and seeded random weights. Its boxes are MEANINGLESS: it exists so the boxes stage
runs for real without network access or downloaded weights.

Layout of the output directory (pass these to ``filo boxes``)::

    <dir>/GroundingDINO_tiny_demo.py  --config
    <dir>/checkpoint.pth   --checkpoint   ({"model": state_dict}, float16 values)
    <dir>/text_encoder/    BERT config, weights, vocab.txt (the config names it relative to itself)
"""

from __future__ import annotations

import os
import string
from collections.abc import Iterable
from pathlib import Path

import torch

from filo.boxes.detector import build_model
from filo.boxes.rules import GENERAL_WORDS
from filo.io import atomic_path

CONFIG_FILE = "GroundingDINO_tiny_demo.py"
CHECKPOINT_FILE = "checkpoint.pth"
TEXT_ENCODER_DIR = "text_encoder"
BASE_CONFIG = "GroundingDINO_SwinT_OGC.py"
TINY_CONFIG_OVERRIDES = {
    "enc_layers": 1,
    "dec_layers": 1,
    "num_queries": 30,
    "dim_feedforward": 256,
    "use_checkpoint": False,
    "use_transformer_ckpt": False,
}
TINY_BERT = {
    "hidden_size": 32,
    "num_hidden_layers": 2,
    "num_attention_heads": 2,
    "intermediate_size": 64,
    "max_position_embeddings": 512,
}
SPECIAL_TOKENS = ("[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]")
CAPTION_WORDS = (
    *GENERAL_WORDS,
    "scratch", "crack", "hole", "stain", "missing", "piece", "contamination", "dent", "bent", "cut",
    "color", "colour", "fold", "glue", "spot", "mark", "tear", "break", "chip", "rough", "surface",
    "edge", "small", "large", "dark", "bright", "foreign", "material", "particle", "thread", "fabric",
    "stone", "wood", "grain", "grid", "mesh", "trace", "board", "capsule", "blob", "round", "part",
    "woven", "speckle", "on", "the", "of", "a", "with", "in", "at", "and",
)


def tiny_vocabulary(texts: Iterable[str] = ()) -> list[str]:
    """WordPiece vocabulary: special tokens, punctuation, characters, ``##`` pieces, caption words, words of `texts`."""
    characters = string.ascii_lowercase + string.digits
    words = {word for text in texts for word in text.lower().split() if word.isalnum()}
    ordered = [
        *SPECIAL_TOKENS,
        *string.punctuation,
        *characters,
        *(f"##{character}" for character in characters),
        *CAPTION_WORDS,
        *sorted(words),
    ]
    return list(dict.fromkeys(ordered))


def _base_config_path() -> Path:
    """The groundingdino-py Swin-T config shipped with the package."""
    import groundingdino  # heavy: loaded only when a demo detector is made

    return Path(groundingdino.__file__).parent / "config" / BASE_CONFIG


def _write_config(path: Path) -> None:
    """Write the tiny detector's config: the Swin-T OGC config with the tiny overrides.

    Its `text_encoder_type` is the text encoder folder's name, relative to the config's own
    folder (see `filo.boxes.detector.build_model`): no machine path ends up in the artifact.
    """
    from groundingdino.util.slconfig import SLConfig  # heavy: loaded only when a demo detector is made

    base = SLConfig.fromfile(str(_base_config_path()))
    values = {key: base[key] for key in base}
    values.update(TINY_CONFIG_OVERRIDES, text_encoder_type=TEXT_ENCODER_DIR)
    lines = ['"""Tiny random Grounding DINO for the filo demo (meaningless boxes); see filo.boxes.tiny."""']
    lines += [f"{key} = {value!r}" for key, value in values.items()]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")


def write_text_encoder(
    directory: Path, texts: Iterable[str], bert: dict = TINY_BERT, *, vocab_size: int | None = None
) -> None:
    """Save a random BERT (seeded by the caller) of shape `bert` and its WordPiece tokenizer to `directory`.

    The vocabulary is `tiny_vocabulary(texts)`, padded with ``[unusedN]`` tokens to `vocab_size` when given
    (e.g. 30522 for a BERT-base-shaped encoder).
    """
    from transformers import BertConfig, BertModel, BertTokenizer

    directory.mkdir(parents=True)
    vocabulary = tiny_vocabulary(texts)
    if vocab_size is not None:
        vocabulary += [f"[unused{index}]" for index in range(vocab_size - len(vocabulary))]
    vocab_file = directory / "vocab.txt"
    vocab_file.write_text("\n".join(vocabulary) + "\n", encoding="utf-8")
    BertTokenizer(str(vocab_file), do_lower_case=True).save_pretrained(str(directory))
    BertModel(BertConfig(vocab_size=len(vocabulary), **bert)).save_pretrained(str(directory))


def save_random_checkpoint(config: str | os.PathLike, text_encoder: Path, checkpoint: Path, *, half: bool) -> None:
    """Build the Grounding DINO of `config` with `text_encoder` and save its (random) weights as {"model": ...}."""
    import torch


    model = build_model(config, str(text_encoder), "cpu")
    state = {key: value.half() if half and value.is_floating_point() else value
             for key, value in model.state_dict().items()}
    torch.save({"model": state}, checkpoint)


def make_tiny_detector(out_dir: str | os.PathLike, *, texts: Iterable[str] = (), seed: int = 0) -> Path:
    """Create the tiny detector directory (config, checkpoint, text encoder) atomically; returns `out_dir`.

    `texts` (e.g. the demo descriptions) add whole words to the vocabulary.
    """
    out_dir = Path(out_dir)
    with atomic_path(out_dir) as tmp:
        tmp.mkdir()
        torch.manual_seed(seed)
        write_text_encoder(tmp / TEXT_ENCODER_DIR, texts)
        _write_config(tmp / CONFIG_FILE)
        save_random_checkpoint(tmp / CONFIG_FILE, tmp / TEXT_ENCODER_DIR, tmp / CHECKPOINT_FILE, half=True)
    return out_dir
