"""Empty inputs are errors at every consumer, saying what is empty and which stage produces it."""

from __future__ import annotations

import pandas as pd
import pytest

from filo.boxes.extract import extract_boxes
from filo.cli import main
from filo.data.manifest import COLUMNS, read_manifest, write_manifest
from filo.descriptions import load_descriptions, write_descriptions
from filo.errors import FiloError
from filo.evaluation.evaluate import EvaluationSettings, evaluate
from filo.evaluation.verdict import check_rule_applicable
from filo.training.params import TrainParams
from filo.training.trainer import train

from .builders import CATEGORY, CountingDetector, write_manifest_of

EMPTY = r"manifest .*empty.parquet is empty \(0 images\); manifests are produced by the `filo data index` stage"


@pytest.fixture
def empty_manifest(tmp_path):
    path = tmp_path / "empty.parquet"
    write_manifest(pd.DataFrame(columns=list(COLUMNS)).astype({"label": "int8", "width": "int32", "height": "int32"}),
                   path, root="data/somewhere", has_masks=True)
    return path


def test_read_manifest_refuses_an_empty_one(empty_manifest):
    with pytest.raises(FiloError, match=EMPTY):
        read_manifest(empty_manifest)


def test_describe_exits_2_and_writes_nothing(empty_manifest, tmp_path, capsys):
    code = main(["describe", "--manifest", str(empty_manifest), "--out", str(tmp_path / "d.json")])
    assert code == 2 and "is empty (0 images)" in capsys.readouterr().err
    assert not (tmp_path / "d.json").exists()


@pytest.mark.parametrize("rule", ["f1", "fpr"])
def test_evaluate_says_empty_instead_of_circular_advice(empty_manifest, tiny_project, tmp_path, capsys, rule):
    code = main(["evaluate", "--model", str(tiny_project.model), "--manifest", str(empty_manifest),
                 "--descriptions", str(tiny_project.descriptions), "--threshold-rule", rule,
                 "--out-dir", str(tmp_path / "results")])
    error = capsys.readouterr().err
    assert code == 2 and "is empty (0 images)" in error and "--threshold-rule" not in error


def test_train_and_boxes_refuse_it(empty_manifest, tiny_project, tmp_path):
    with pytest.raises(FiloError, match=EMPTY):
        train(empty_manifest, tiny_project.descriptions, tmp_path / "m.pt", TrainParams(mlflow=False))
    with pytest.raises(FiloError, match=EMPTY):
        extract_boxes(empty_manifest, tiny_project.descriptions, tmp_path / "b.parquet", CountingDetector())


def test_a_manifest_without_test_images_gets_one_straight_answer(tiny_project, tmp_path):
    train_only = write_manifest_of(tmp_path / "train-only.parquet", [CATEGORY], split="train")
    for rule in ("f1", "fpr"):
        with pytest.raises(FiloError, match="has no test images, so no threshold rule can choose a verdict"):
            evaluate(tiny_project.model, train_only, tiny_project.descriptions, tmp_path / "r",
                     settings=EvaluationSettings(experiment=None, threshold_rule=rule))
    with pytest.raises(FiloError, match="no test images"):
        check_rule_applicable("f1", [])


def test_empty_descriptions_are_refused_at_write_and_read(tmp_path):
    with pytest.raises(FiloError, match="without any category"):
        write_descriptions(tmp_path / "d.json", {})
    (tmp_path / "d.json").write_text('{"schema_version": 1, "categories": {}}')
    with pytest.raises(FiloError, match="describes no category; it is produced by the `filo describe` stage"):
        load_descriptions(tmp_path / "d.json")
