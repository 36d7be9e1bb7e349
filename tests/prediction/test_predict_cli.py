"""`filo predict` on synthetic images: JSON per image, overlays, folders, helpful errors."""

import json

import pytest

from filo.cli import main
from filo.registry.predict import predict_images

from .builders import VISA_CATEGORY, write_images


def test_predicts_a_folder_and_prints_one_json_object_per_image(checkpoint, tmp_path, capsys):
    write_images(tmp_path / "in" / "nested", 2, seed=1)
    write_images(tmp_path / "in", 1, seed=2)
    out_dir = tmp_path / "maps"
    code = main(["predict", str(tmp_path / "in"), "--category", "Wood Grain", "--model", str(checkpoint),
                 "--threshold", "0.4", "--out-dir", str(out_dir), "--batch-size", "2", "--device", "cpu"])
    assert code == 0
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert len(lines) == 3
    for line in lines:
        assert line["category"] == VISA_CATEGORY
        assert line["verdict"] == ("anomalous" if line["score"] >= 0.4 else "normal")
        assert line["calibration"] == {"rule": "manual", "target_fpr": None, "n_good": None,
                                       "summary": "threshold set by hand"}
        assert line["descriptions_source"] == "user"
        assert line["position"] is None and line["error"] is None
        assert len(line["top_descriptions"]) == 3
        assert all(set(item) == {"description", "similarity"} for item in line["top_descriptions"])
        assert line["anomaly_map_path"].startswith(str(out_dir))
    assert len(list(out_dir.glob("*.heatmap.png"))) == 3


def test_without_a_threshold_there_is_no_verdict(checkpoint, tmp_path):
    images = write_images(tmp_path / "in", 1)
    (result,) = predict_images(images, VISA_CATEGORY, model=checkpoint, out_dir=tmp_path / "out", progress=False)
    assert result.verdict is None and result.score is not None


def test_a_new_category_is_predicted_offline_with_generic_descriptions_and_one_hint(checkpoint, tmp_path,
                                                                                    capsys, caplog):
    write_images(tmp_path / "in", 3)
    code = main(["predict", str(tmp_path / "in"), "--category", "Brake Disc", "--model", str(checkpoint),
                 "--out-dir", str(tmp_path / "out"), "--batch-size", "1"])
    assert code == 0
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert len(lines) == 3
    assert all(line["category"] == "brake_disc" and line["descriptions_source"] == "generic" for line in lines)
    assert all(line["score"] is not None for line in lines)
    hints = [record.getMessage() for record in caplog.records if "generic defect descriptions" in record.getMessage()]
    assert len(hints) == 1  # once per run, not per image
    assert '`filo describe --category "brake disc" --llm-model MODEL' in hints[0] and "--descriptions" in hints[0]


@pytest.mark.parametrize("name", ["gear/wheel", "x" * 300])
def test_a_category_name_with_a_slash_or_300_characters_exits_2(checkpoint, tmp_path, capsys, name):
    images = write_images(tmp_path / "in", 1)
    code = main(["predict", str(images[0]), "--category", name, "--model", str(checkpoint),
                 "--out-dir", str(tmp_path / "out")])
    assert code == 2
    assert "category name" in capsys.readouterr().err
    assert not (tmp_path / "out").exists()


def test_an_unreadable_image_sets_exit_code_1(checkpoint, tmp_path, capsys):
    broken = tmp_path / "in" / "broken.png"
    write_images(tmp_path / "in", 1)
    broken.write_bytes(b"junk")
    code = main(["predict", str(tmp_path / "in"), "--category", VISA_CATEGORY, "--model", str(checkpoint),
                 "--out-dir", str(tmp_path / "out")])
    assert code == 1
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [line["error"] is None for line in lines] == [True, False]


def test_threshold_and_verdict_are_exclusive(checkpoint, tmp_path):
    with pytest.raises(SystemExit):
        main(["predict", str(tmp_path), "--category", "x", "--threshold", "0.3", "--verdict", "v.json"])


def test_a_missing_model_reference_is_explained(tmp_path, capsys):
    images = write_images(tmp_path / "in", 1)
    assert main(["predict", str(images[0]), "--category", VISA_CATEGORY, "--model", str(tmp_path / "nope.pt")]) == 2
    assert "neither a registry URI" in capsys.readouterr().err


def test_a_verdict_file_gives_the_threshold(checkpoint, tmp_path):
    from .builders import write_verdict_file

    images = write_images(tmp_path / "in", 1)
    verdict = write_verdict_file(tmp_path / "verdict.json", 0.123, n_good=37)
    (result,) = predict_images(images, VISA_CATEGORY, model=checkpoint, verdict=verdict, out_dir=tmp_path / "out",
                               progress=False)
    assert result.threshold == 0.123
    assert result.verdict == ("anomalous" if result.score >= 0.123 else "normal")
    assert {key: result.calibration[key] for key in ("rule", "target_fpr", "n_good")} == {
        "rule": "fpr", "target_fpr": 0.05, "n_good": 37}
    assert result.calibration["summary"].startswith("wood_grain has no calibration of its own")
