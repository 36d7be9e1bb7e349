"""Reading stage arguments for a pipeline run from params.yaml."""

from __future__ import annotations

from pathlib import Path

import pytest
from filo.pipelines.params import PipelineParams

from filo.errors import FiloError


def _params(tmp_path: Path, text: str) -> PipelineParams:
    path = tmp_path / "params.yaml"
    path.write_text(text, encoding="utf-8")
    return PipelineParams.load(path)


def test_the_repository_params_file_is_readable():
    params = PipelineParams.load(Path(__file__).parents[2] / "params.yaml")

    assert params.synth_options()["seed"] == 0
    assert params.describe_options()["llm"] is None
    assert params.box_rules()["rule"] == "authors"


def test_sections_become_stage_keywords(tmp_path):
    params = _params(tmp_path, """
synth: {seed: 3, image_size: 64}
describe: {sources: "user, defaults", cache_dir: c, model: gpt-x, temperature: 0.5}
boxes: {box_threshold: 0.3, rule: sane, batch_size: 2, config: cfg.py, checkpoint: w.pth}
""")

    assert params.synth_options() == {"seed": 3, "image_size": 64}
    describe = params.describe_options()
    assert describe["source_order"] == ["user", "defaults"]
    assert describe["cache_dir"] == "c"
    assert (describe["llm"].model, describe["llm"].temperature) == ("gpt-x", 0.5)
    assert params.box_rules() == {"box_threshold": 0.3, "rule": "sane"}
    assert params.detector_files() == (Path("cfg.py"), Path("w.pth"))


def test_missing_sections_take_the_stage_defaults(tmp_path):
    params = _params(tmp_path, "{}\n")

    assert params.synth_options() == {}
    assert params.describe_options() == {"llm": None}
    assert params.detector_files() is None


def test_an_unknown_describe_key_is_named(tmp_path):
    params = _params(tmp_path, "describe: {modle: gpt-x}\n")

    with pytest.raises(FiloError, match=r"unknown describe key\(s\) \['modle'\]"):
        params.describe_options()


def test_a_detector_needs_config_and_checkpoint(tmp_path):
    params = _params(tmp_path, "boxes: {config: cfg.py}\n")

    with pytest.raises(FiloError, match="both config and checkpoint"):
        params.detector_files()


def test_a_missing_file_or_a_bad_section_is_explained(tmp_path):
    with pytest.raises(FiloError, match="nope.yaml does not exist"):
        PipelineParams.load(tmp_path / "nope.yaml")
    with pytest.raises(FiloError, match="section 'boxes' must be a mapping"):
        _params(tmp_path, "boxes: [1, 2]\n")


def test_register_options_build_the_promotion_gate(tmp_path):
    params = _params(tmp_path, "register: {name: filo-demo, gate_metrics: 'image_auroc, image_ap'}\n")

    options = params.register_options()

    assert options["name"] == "filo-demo"
    assert options["gate"].metrics == ("image_auroc", "image_ap")
    with pytest.raises(FiloError, match=r"unknown register key\(s\) \['gate'\]"):
        _params(tmp_path, "register: {gate: x}\n").register_options()
