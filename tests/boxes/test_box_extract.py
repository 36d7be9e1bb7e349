"""Resumable batched extraction over a manifest (with a deterministic fake detector)."""

import json

import pyarrow.parquet as pq
import pytest

from filo.boxes.artifact import load_boxes, read_boxes_metadata, read_boxes_table
from filo.boxes.extract import extract_boxes, shards_dir_for
from filo.boxes.rules import BoxRules
from filo.errors import FiloError

from .conftest import make_dataset
from .fake_detector import FakeDetector

RULES = BoxRules(image_size=32)


def run(manifest, descriptions, out, detector, **options):
    options.setdefault("rules", RULES)
    return extract_boxes(manifest, descriptions, out, detector, **options)


def test_every_test_image_gets_rows_in_manifest_order(dataset, tmp_path):
    manifest, descriptions = dataset
    out = run(manifest, descriptions, tmp_path / "boxes.parquet", FakeDetector(), batch_size=2)
    table = read_boxes_table(out)
    ids = list(dict.fromkeys(table.column("image_id").to_pylist()))
    assert ids == [
        "woven_fabric/test/scratch/001.png", "woven_fabric/test/good/002.png", "woven_fabric/test/scratch/003.png",
        "round_part/test/scratch/001.png", "round_part/test/good/002.png", "round_part/test/scratch/003.png",
    ]
    assert set(table.column("n_raw_boxes").to_pylist()) == {6}
    assert not shards_dir_for(out).exists()
    metadata = read_boxes_metadata(out)
    assert metadata["rules"]["image_size"] == 32 and metadata["detector"]["config"] == "fake"
    boxes = load_boxes(out)
    assert all(entry.error is None for entry in boxes.values())


def test_caption_is_built_from_the_category_descriptions(dataset, tmp_path):
    manifest, descriptions = dataset
    captions = []
    detector = FakeDetector()
    original = detector.phrase_decoder

    def recording(caption):
        captions.append(caption)
        return original(caption)

    detector.phrase_decoder = recording
    run(manifest, descriptions, tmp_path / "boxes.parquet", detector)
    assert captions == [
        "anomaly . damage . broken . defect . contamination . scratch . hole . colour stain.",
        "anomaly . damage . broken . defect . contamination . crack . missing piece.",
    ]


def test_only_same_shape_images_share_a_batch(tmp_path):
    manifest, descriptions = make_dataset(tmp_path, per_category=4, sizes=((40, 40), (60, 40)))
    detector = FakeDetector()
    run(manifest, descriptions, tmp_path / "boxes.parquet", detector, batch_size=4)
    assert detector.images_seen == 8
    assert sorted(shape[0] for shape in detector.batch_shapes) == [2, 2, 2, 2]
    assert {shape[2:] for shape in detector.batch_shapes} == {(32, 32), (32, 48)}


def test_resumed_run_equals_an_uninterrupted_run(dataset, tmp_path):
    manifest, descriptions = dataset
    reference = run(manifest, descriptions, tmp_path / "reference.parquet", FakeDetector(), batch_size=1)

    out = tmp_path / "boxes.parquet"
    with pytest.raises(RuntimeError, match="simulated crash"):
        run(manifest, descriptions, out, FakeDetector(crash_after_calls=3), batch_size=1, shard_size=2)
    assert not out.exists()
    shards = sorted(shards_dir_for(out).glob("shard-*.parquet"))
    assert [shard.name for shard in shards] == ["shard-00000.parquet"]

    resumed = FakeDetector()
    run(manifest, descriptions, out, resumed, batch_size=1, shard_size=2)
    assert resumed.images_seen == 4  # the 2 images of the first shard were not recomputed
    assert pq.read_table(out).equals(pq.read_table(reference))
    assert not shards_dir_for(out).exists()


def test_resuming_with_other_settings_is_refused(dataset, tmp_path):
    manifest, descriptions = dataset
    out = tmp_path / "boxes.parquet"
    with pytest.raises(RuntimeError):
        run(manifest, descriptions, out, FakeDetector(crash_after_calls=2), batch_size=1, shard_size=1)
    with pytest.raises(FiloError, match="boxes.parquet.shards.*other settings"):
        run(manifest, descriptions, out, FakeDetector(), rules=BoxRules(image_size=32, box_threshold=0.3))
    assert json.loads((shards_dir_for(out) / "run.json").read_text())["rules"]["box_threshold"] == 0.25


def test_unreadable_image_becomes_an_error_row(dataset, tmp_path):
    manifest, descriptions = dataset
    broken = tmp_path / "data" / "round_part" / "test" / "good" / "002.png"
    broken.write_bytes(b"not a png")
    out = run(manifest, descriptions, tmp_path / "boxes.parquet", FakeDetector(), batch_size=3)
    entry = load_boxes(out)["round_part/test/good/002.png"]
    assert entry.error.startswith(f"cannot read image {broken}")
    assert entry.boxes.shape == (0, 4) and entry.position is None
    assert len(load_boxes(out)) == 6


def test_strict_run_stops_on_an_unreadable_image(dataset, tmp_path):
    manifest, descriptions = dataset
    (tmp_path / "data" / "woven_fabric" / "test" / "good" / "002.png").unlink()
    with pytest.raises(FiloError, match=r"cannot read image .*002.png.*drop --strict"):
        run(manifest, descriptions, tmp_path / "boxes.parquet", FakeDetector(), strict=True)
    assert not (tmp_path / "boxes.parquet").exists()


def test_missing_category_descriptions_are_named(dataset, tmp_path):
    manifest, descriptions = dataset
    content = json.loads(descriptions.read_text())
    del content["categories"]["round_part"]
    descriptions.write_text(json.dumps(content))
    with pytest.raises(FiloError, match=r"no entry for categories \['round_part'\]"):
        run(manifest, descriptions, tmp_path / "boxes.parquet", FakeDetector())


def test_a_lost_shard_is_recomputed_without_overwriting_the_others(dataset, tmp_path):
    manifest, descriptions = dataset
    reference = run(manifest, descriptions, tmp_path / "reference.parquet", FakeDetector(), batch_size=1)
    out = tmp_path / "boxes.parquet"
    with pytest.raises(RuntimeError):
        run(manifest, descriptions, out, FakeDetector(crash_after_calls=3), batch_size=1, shard_size=1)
    (shards_dir_for(out) / "shard-00000.parquet").unlink()
    resumed = FakeDetector()
    run(manifest, descriptions, out, resumed, batch_size=1, shard_size=1)
    assert resumed.images_seen == 4
    assert pq.read_table(out).equals(pq.read_table(reference))
