"""The paper-scale rehearsal: its cost model, and its runner end to end (the paper DAG under DVC, tiny CLIP)."""

from __future__ import annotations

import json

import pytest
from filo.pipelines.dag import pipeline_stages
from filo.pipelines.rehearsal import (
    PAPER_PARAMS,
    StageRun,
    extrapolate,
    line_through,
    rehearse,
    run_measured,
)

from filo.boxes.tiny import TINY_BERT
from filo.data.sources import SOURCES
from filo.doctor import DoctorSettings, run_doctor
from filo.rehearsal import RehearsalSettings

FULL_TEST_IMAGES = {name: source.test_images for name, source in SOURCES.items()}
FULL_GOOD_TEST_IMAGES = {name: source.good_test_images for name, source in SOURCES.items()}


def _runs(evaluate_per_image: float = 3.0, evaluate_fixed: float = 20.0) -> dict[str, StageRun]:
    """Stage runs of a made-up rehearsal: known fixed costs and costs per image."""
    runs = {name: StageRun(name, 5.0, 100.0, 0) for name in ("preflight", "describe_mvtec", "describe_visa",
                                                                "detector")}
    for layout, images in (("mvtec", 12), ("visa", 20)):
        runs[f"index_{layout}"] = StageRun(f"index_{layout}", 2.0 + 0.01 * images, 200.0, images)
        runs[f"boxes_{layout}"] = StageRun(f"boxes_{layout}", 10.0 + 2.0 * images, 3000.0, images)
    for key, source_images, target_images in (("mvtec_to_visa", 12, 20), ("visa_to_mvtec", 20, 12)):
        runs[f"evaluate_{key}"] = StageRun(f"evaluate_{key}", evaluate_fixed + evaluate_per_image * target_images,
                                           5000.0, target_images)
        runs[f"train_{key}"] = StageRun(f"train_{key}", 100.0, 6000.0, source_images)
    runs["register"] = StageRun("register", 30.0 + 3.0 * 16, 5000.0, 16)
    return runs


def test_two_unequal_runs_give_the_fixed_cost_and_the_cost_per_image():
    fixed, per_image, how = line_through(StageRun("a", 10.0 + 2.0 * 12, 1.0, 12), StageRun("b", 10.0 + 2.0 * 20, 1.0, 20))
    assert (fixed, per_image) == pytest.approx((10.0, 2.0)) and "line through a and b" in how
    fixed, per_image, how = line_through(StageRun("a", 30.0, 1.0, 12), StageRun("b", 29.0, 1.0, 20))  # noise
    assert (fixed, per_image) == (0.0, 30.0 / 12) and "upper bound" in how


def test_extrapolation_scales_each_stage_by_the_real_dataset_sizes():
    runs = _runs()
    epochs = {"train_mvtec_to_visa": {"prompt": 40.0, "adapter": 20.0},
              "train_visa_to_mvtec": {"prompt": 44.0, "adapter": 22.0}}
    costs = extrapolate(runs, epochs, {"train_mvtec_to_visa": 2, "train_visa_to_mvtec": 2},
                        {"epochs": 15, "adapter_epochs": 5})
    assert set(costs) == set(runs)
    evaluate = costs["evaluate_mvtec_to_visa"]
    assert evaluate.full_images == FULL_TEST_IMAGES["visa"]
    assert evaluate.seconds == pytest.approx(20.0 + 3.0 * FULL_TEST_IMAGES["visa"])
    assert costs["boxes_mvtec"].seconds == pytest.approx(10.0 + 2.0 * FULL_TEST_IMAGES["mvtec"])
    train = costs["train_mvtec_to_visa"]  # 20 + 10 s per step, 15 + 5 epochs over MVTec AD's test set
    assert train.fixed_s == pytest.approx(40.0)
    assert train.seconds == pytest.approx(40.0 + FULL_TEST_IMAGES["mvtec"] * (15 * 20.0 + 5 * 10.0))
    register = costs["register"]
    assert register.seconds == pytest.approx(30.0 + 3.0 * sum(FULL_GOOD_TEST_IMAGES.values()))
    assert costs["preflight"].seconds == 5.0 and costs["preflight"].seconds_per_image is None


def test_peak_memory_is_the_stage_s_own(tmp_path):
    import sys

    held = bytearray(800 << 20)  # the measuring process holds 800 MiB; the measured one 100 MiB
    _, rss = run_measured([sys.executable, "-c", "x = bytearray(100 << 20)"], tmp_path, {}, tmp_path / "a.log")
    assert 100 < rss < 400, rss
    with pytest.raises(RuntimeError, match="exit code 3"):
        run_measured([sys.executable, "-c", "raise SystemExit(3)"], tmp_path, {}, tmp_path / "b.log")
    del held


@pytest.mark.slow
def test_the_rehearsal_runs_the_paper_dag_from_served_archives_to_a_registered_model(tmp_path):
    """The paper profile's params and DAG with the paper's detector config, a tiny CLIP and a tiny BERT."""
    settings = RehearsalSettings(clip_name="filo-tiny", bert=dict(TINY_BERT), bert_vocab_size=None, image_size=32,
                                 n_train_good=1, n_test_good={"mvtec": 1, "visa": 3})
    document = rehearse(tmp_path, settings, overrides={
        "train": {"model_preset": "tiny", "model_overrides": {"clip_weights_tag": "custom"}}})

    assert document["rehearsal"]["dvc_status"] == "Data and pipelines are up to date."
    assert document["rehearsal"]["registered"] == {"name": "filo", "versions": [1], "aliases": {"champion": 1}}
    stages = document["stages"]
    assert set(stages) | set(document["not_extrapolated"]) == {stage.name for stage in pipeline_stages(PAPER_PARAMS)}
    assert stages["evaluate_mvtec_to_visa"]["images"] == 2 * (3 + 4)  # VisA layout: 2 categories, 4 defect types
    assert stages["evaluate_visa_to_mvtec"]["images"] == 2 * (1 + 4)
    assert stages["train_mvtec_to_visa"]["images"] == 2 * 2  # one epoch of each phase, 2 steps of batch size 1
    assert all(stage["peak_rss_mib"] > 50 and stage["seconds"] > 0 for stage in stages.values())
    assert document["total_seconds"] == pytest.approx(sum(stage["seconds"] for stage in stages.values()))

    table = tmp_path / "cost.json"
    table.write_text(json.dumps(document))
    findings = run_doctor(tmp_path / "profile" / "params.yaml", DoctorSettings(headroom_gib=0.0, allow_cpu=True,
                                                                              cost_table=str(table)))
    [duration] = [finding for finding in findings if finding.check == "expected duration"]
    assert duration.ok and duration.detail.startswith(f"{document['total_seconds'] / 3600:.1f} h")
