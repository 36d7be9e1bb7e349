"""Oversized images and hostile pixel formats, through every consumer (index, training/evaluation, boxes, predict)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest
import torch
from PIL import Image

from filo.boxes.detector import load_detector_image
from filo.cli import main
from filo.data.images import MAX_IMAGE_PIXELS_ENV, load_mask, load_rgb, read_size
from filo.data.index import index_dataset
from filo.data.torch_dataset import AnomalyDataset
from filo.errors import FiloError

from .builders import CATEGORY, write_bomb_png, write_exif_rotated, write_mode_variants


@pytest.fixture(scope="module")
def variants(tmp_path_factory):
    return write_mode_variants(tmp_path_factory.mktemp("variants"))


VARIANTS = ("gray", "gray16", "rgba", "cmyk", "palette", "exif_rotated")


def _copy_dataset(source, destination):
    shutil.copytree(source, destination)
    return destination


# --- 1. oversized images --------------------------------------------------------------------------------------

def test_a_bomb_is_refused_from_its_header_with_the_limit_and_how_to_raise_it(tmp_path):
    bomb = write_bomb_png(tmp_path / "bomb.png")
    for read in (load_rgb, load_mask, read_size):
        with pytest.raises(FiloError, match=rf"bomb.png is 20000x20000 = 400.0 megapixels.*{MAX_IMAGE_PIXELS_ENV}"):
            read(bomb)


def test_the_pixel_limit_is_configurable(tmp_path, monkeypatch):
    small = tmp_path / "small.png"
    Image.new("RGB", (20, 10)).save(small)
    monkeypatch.setenv(MAX_IMAGE_PIXELS_ENV, "199")
    with pytest.raises(FiloError, match="more than the limit of 0.000199 megapixels"):
        load_rgb(small)
    monkeypatch.setenv(MAX_IMAGE_PIXELS_ENV, "200")
    assert load_rgb(small).size == (20, 10)
    monkeypatch.setenv(MAX_IMAGE_PIXELS_ENV, "lots")
    with pytest.raises(FiloError, match="FILO_MAX_IMAGE_PIXELS='lots' is not a positive whole number"):
        load_rgb(small)


def test_raising_the_limit_above_pils_own_lets_a_large_image_through(tmp_path, monkeypatch):
    bomb = write_bomb_png(tmp_path / "bomb.png")
    monkeypatch.setenv(MAX_IMAGE_PIXELS_ENV, str(500_000_000))
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", Image.MAX_IMAGE_PIXELS)  # restored after the test
    assert read_size(bomb) == (20000, 20000)


@pytest.mark.parametrize("full_decode", [False, True])
def test_index_skip_bad_rejects_a_bomb_with_its_reason_and_indexes_the_rest(tiny_project, tmp_path, full_decode):
    root = _copy_dataset(tiny_project.data, tmp_path / "data")
    victim = min((root / CATEGORY / "test" / "good").glob("*.png"))
    write_bomb_png(victim)
    out = tmp_path / "manifest.parquet"
    result = index_dataset(root, out, dataset="synth", skip_bad=True, full_decode=full_decode)
    rejects = pq.read_table(tmp_path / "manifest.rejects.parquet").to_pandas()
    assert rejects["image_path"].tolist() == [victim.as_posix()]
    assert "20000x20000 = 400.0 megapixels" in rejects["reason"][0]
    assert len(result.manifest) == len(pd.read_parquet(tiny_project.manifest)) - 1
    with pytest.raises(FiloError, match="(?s)1 bad file.*megapixels"):
        index_dataset(root, tmp_path / "strict.parquet", dataset="synth")


def test_predict_gives_a_bomb_an_error_line_and_scores_the_good_images(tiny_project, tmp_path, capsys):
    folder = tmp_path / "in"
    folder.mkdir()
    good = sorted((tiny_project.data / CATEGORY / "test" / "good").glob("*.png"))
    for path in good:
        shutil.copy(path, folder / path.name)
    write_bomb_png(folder / "zz_bomb.png")
    code = main(["predict", str(folder), "--category", CATEGORY, "--model", str(tiny_project.model),
                 "--descriptions", str(tiny_project.descriptions), "--out-dir", str(tmp_path / "out")])
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert code == 1
    assert [line["score"] is not None for line in lines] == [True] * len(good) + [False]
    assert "megapixels" in lines[-1]["error"]


# --- 3. one loader, every pixel format, every consumer ----------------------------------------------------------

@pytest.mark.parametrize("variant", VARIANTS)
def test_the_loader_returns_what_a_viewer_shows(variants, variant):
    hostile, reference = variants[variant]
    assert np.array_equal(np.asarray(load_rgb(hostile)), np.asarray(Image.open(reference).convert("RGB")))
    assert read_size(hostile) == Image.open(reference).size


@pytest.mark.parametrize("variant", VARIANTS)
def test_grounding_dino_input_matches_the_plain_rgb_file(variants, variant):
    hostile, reference = variants[variant]
    assert torch.equal(load_detector_image(hostile, 64), load_detector_image(reference, 64))


def test_sixteen_bit_is_not_saturated_for_grounding_dino(variants):
    tensor = load_detector_image(variants["gray16"][0], 64)
    white = (1 - 0.485) / 0.229
    assert (tensor[0] >= white - 1e-4).float().mean() < 0.05


def test_index_accepts_every_format_with_its_upright_size(variants, tmp_path):
    from filo.data.synthetic import generate_dataset

    generate_dataset("mvtec", tmp_path / "data", seed=1, categories=(CATEGORY,), image_size=64,
                     n_train_good=1, n_test_good=len(VARIANTS), n_test_per_defect=1)
    good = sorted((tmp_path / "data" / CATEGORY / "test" / "good").glob("*.png"))
    expected = {}
    for path, variant in zip(good, VARIANTS):
        hostile, reference = variants[variant]
        path.unlink()
        shutil.copy(hostile, path.with_suffix(hostile.suffix))
        expected[path.with_suffix(hostile.suffix).relative_to(tmp_path / "data").as_posix()] = \
            Image.open(reference).size
    result = index_dataset(tmp_path / "data", tmp_path / "m.parquet", dataset="synth")
    rows = result.manifest.set_index("image_id")
    assert not result.rejects
    assert {image_id: (rows.at[image_id, "width"], rows.at[image_id, "height"]) for image_id in expected} == expected


def _manifest_of(paths, masks=None):
    rows = []
    for index, path in enumerate(paths):
        width, height = read_size(path)
        mask = masks[index] if masks else None
        rows.append({"image_id": f"{index:03d}", "dataset": "d", "category": CATEGORY, "split": "test",
                     "label": int(mask is not None), "defect_type": "cut" if mask else "good",
                     "image_path": str(path), "mask_path": mask, "width": width, "height": height})
    return pd.DataFrame(rows)


@pytest.mark.parametrize("variant", VARIANTS)
def test_training_and_evaluation_tensors_match_the_plain_rgb_file(variants, variant):
    dataset = AnomalyDataset(_manifest_of(variants[variant]), 64, split="test")
    assert torch.equal(dataset[0]["image"], dataset[1]["image"])


def test_an_exif_rotated_photo_with_an_upright_mask_is_indexed_upright(tiny_project, tmp_path):
    root = _copy_dataset(tiny_project.data, tmp_path / "data")
    frame = pd.read_parquet(tiny_project.manifest)
    anomalous = frame[frame["label"] == 1].iloc[0]
    image_path = root / anomalous["image_id"]
    upright = Image.open(image_path).convert("RGB").resize((64, 48))  # not square: a missed rotation shows
    upright.save(image_path)
    mask_path = root / Path(anomalous["mask_path"]).relative_to(tiny_project.data)
    mask = np.zeros((48, 64), np.uint8)
    mask[5:20, 30:60] = 255
    Image.fromarray(mask).save(mask_path)
    write_exif_rotated(upright, image_path)
    result = index_dataset(root, tmp_path / "m.parquet", dataset="synth")
    row = result.manifest.set_index("image_id").loc[anomalous["image_id"]]
    assert (row["width"], row["height"]) == (64, 48)
    item = AnomalyDataset(result.manifest[result.manifest["image_id"] == anomalous["image_id"]], 64)[0]
    expected = AnomalyDataset(_manifest_of([_save_plain(upright, tmp_path / "plain.png")]), 64)[0]
    assert torch.equal(item["image"], expected["image"])


def _save_plain(image: Image.Image, path):
    image.save(path)
    return path


def test_predict_scores_each_format_like_the_plain_rgb_file(variants, tiny_project, tmp_path, capsys):
    paths = [path for variant in VARIANTS for path in variants[variant]]
    code = main(["predict", *map(str, paths), "--category", CATEGORY, "--model", str(tiny_project.model),
                 "--descriptions", str(tiny_project.descriptions), "--out-dir", str(tmp_path / "out")])
    assert code == 0
    scores = [json.loads(line)["score"] for line in capsys.readouterr().out.splitlines()]
    # The pair decodes to the same pixels; in one batch, an image's row can move the last float32 bits of
    # its score on some processors (filo.kernels: measured 1.2e-7 on an Intel Xeon), so not bytes.
    for index, variant in enumerate(VARIANTS):
        assert scores[2 * index] == pytest.approx(scores[2 * index + 1], abs=1e-6), variant
