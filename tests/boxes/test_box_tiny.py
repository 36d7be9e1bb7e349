"""The tiny random Grounding DINO: built, saved, reloaded like a real checkpoint, run end to end."""

import logging
import shutil

import numpy as np
import pytest
import torch

from filo.boxes.artifact import load_boxes, read_boxes_metadata, read_boxes_table
from filo.boxes.detector import load_detector
from filo.boxes.rules import build_caption
from filo.boxes.stage import DetectorSettings, prepare_detector
from filo.boxes.tiny import CHECKPOINT_FILE, CONFIG_FILE, TEXT_ENCODER_DIR
from filo.cli import main
from filo.io import sha256_file

from .conftest import DESCRIPTIONS

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def tiny_dir(tmp_path_factory):
    out = tmp_path_factory.mktemp("tiny") / "detector"
    assert main(["boxes-detector", "--out", str(out)]) == 0
    return out


def test_tiny_detector_is_reproducible_from_its_seed(tiny_dir, tmp_path):
    from filo.boxes.tiny import tiny_vocabulary
    from filo.descriptions.defaults import load_shipped_defaults

    again = prepare_detector(tmp_path / "again", DetectorSettings(seed=0))
    first = torch.load(tiny_dir / CHECKPOINT_FILE)["model"]
    second = torch.load(again / CHECKPOINT_FILE)["model"]
    assert first.keys() == second.keys()
    assert all(torch.equal(first[key], second[key]) for key in first)
    vocabulary = (again / TEXT_ENCODER_DIR / "vocab.txt").read_text().split("\n")[:-1]
    shipped = [text for entry in load_shipped_defaults().values() for text in entry.descriptions]
    assert vocabulary == tiny_vocabulary(shipped)
    assert {"[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", ".", "scratch", "##z"} <= set(vocabulary)


def test_tiny_detector_folder_holds_no_machine_path_and_loads_after_a_move(tiny_dir, tmp_path):
    config = (tiny_dir / CONFIG_FILE).read_text()
    assert str(tiny_dir.parent) not in config and f"text_encoder_type = {TEXT_ENCODER_DIR!r}" in config
    moved = tmp_path / "moved"
    shutil.copytree(tiny_dir, moved)
    detector = load_detector(moved / CONFIG_FILE, moved / CHECKPOINT_FILE, device="cpu")
    assert detector.model.bert.config.name_or_path == str((moved / TEXT_ENCODER_DIR).resolve())


@pytest.fixture(scope="module")
def tiny(tiny_dir):
    return load_detector(
        tiny_dir / CONFIG_FILE, tiny_dir / CHECKPOINT_FILE, text_encoder=str(tiny_dir / TEXT_ENCODER_DIR), device="cpu"
    )


def test_tiny_checkpoint_loads_cleanly_through_the_real_path(tiny_dir, caplog):
    with caplog.at_level(logging.WARNING, logger="filo.boxes.detector"):
        detector = load_detector(tiny_dir / CONFIG_FILE, tiny_dir / CHECKPOINT_FILE, device="cpu")
    assert not caplog.records
    assert detector.identity["checkpoint_sha256"] == sha256_file(tiny_dir / CHECKPOINT_FILE)
    assert detector.identity["config"] == "GroundingDINO_tiny_demo"


def test_tiny_vocabulary_covers_captions_without_unknown_tokens(tiny):
    tokenizer = tiny.model.tokenizer
    caption = build_caption(["Brown colour stain", "zigzag-crack", "missing piece 2"])
    tokens = tokenizer.tokenize(caption)
    assert "[UNK]" not in tokens
    assert tokenizer.decode(tokenizer.convert_tokens_to_ids(tokens)).startswith("anomaly. damage.")


def test_batched_prediction_equals_single_images(tiny):
    torch.manual_seed(1)
    images = torch.randn(2, 3, 64, 80)
    caption = build_caption(DESCRIPTIONS["woven_fabric"])
    probs, boxes = tiny.predict(images, caption)
    assert probs.shape[:2] == (2, 30) and boxes.shape == (2, 30, 4)
    for index in range(2):
        single_probs, single_boxes = tiny.predict(images[index : index + 1], caption)
        np.testing.assert_allclose(single_probs[0], probs[index], atol=1e-4)
        np.testing.assert_allclose(single_boxes[0], boxes[index], atol=1e-4)


def synthetic_demo_inputs(root):
    """A small synthetic MVTec-layout dataset, its manifest, and the shipped demo descriptions."""
    from filo.data.index import index_dataset
    from filo.data.synthetic import generate_dataset
    from filo.descriptions import write_descriptions
    from filo.descriptions.defaults import load_shipped_defaults

    categories = ["woven_fabric", "round_part"]
    dataset = generate_dataset(
        "mvtec", root / "synth_mvtec", seed=0, categories=categories, image_size=48,
        n_train_good=1, n_test_good=1, n_test_per_defect=1,
    )
    manifest = root / "manifest.parquet"
    index_dataset(dataset, manifest, dataset="synth_mvtec")
    descriptions = root / "descriptions.json"
    shipped = load_shipped_defaults()
    write_descriptions(descriptions, {name: shipped[name] for name in categories})
    return manifest, descriptions


def test_tiny_detector_runs_the_stage_end_to_end(tiny_dir, tmp_path):
    from filo.data.manifest import read_manifest

    manifest, descriptions = synthetic_demo_inputs(tmp_path)
    test_ids = set(read_manifest(manifest).query("split == 'test'")["image_id"])
    out = tmp_path / "boxes.parquet"
    code = main(
        [
            "boxes", "--manifest", str(manifest), "--descriptions", str(descriptions), "--out", str(out),
            "--detector", str(tiny_dir), "--device", "cpu", "--rules-image-size", "64", "--batch-size", "4",
        ]
    )
    assert code == 0
    boxes = load_boxes(out)
    assert set(boxes) == test_ids and all(entry.error is None for entry in boxes.values())
    table = read_boxes_table(out).to_pandas()
    assert (table["n_raw_boxes"] == 30).all()
    assert ((table["n_kept_boxes"] >= 1) & (table["n_kept_boxes"] <= 30)).all()
    assert table[["x1", "y1", "x2", "y2"]].notna().all().all()
    assert (table["x2"] >= table["x1"]).all() and (table["y2"] >= table["y1"]).all()
    metadata = read_boxes_metadata(out)
    assert metadata["detector"]["checkpoint_sha256"] == sha256_file(tiny_dir / CHECKPOINT_FILE)
    assert metadata["rules"]["image_size"] == 64


def test_cli_reports_a_wrong_checkpoint_as_a_user_error(tiny_dir, tmp_path, capsys):
    other = tmp_path / "other.pth"
    torch.save({"model": {"unrelated.weight": torch.zeros(3)}}, other)
    code = main(
        [
            "boxes-detector", "--out", str(tmp_path / "detector"), "--kind", "grounding_dino",
            "--config", str(tiny_dir / CONFIG_FILE), "--checkpoint", str(other),
            "--text-encoder", str(tiny_dir / TEXT_ENCODER_DIR),
        ]
    )
    assert code == 2
    assert "uninitialized" in capsys.readouterr().err
