"""`filo check-repro`: a fresh run's metrics against the committed ones, within the promised tolerance."""

from __future__ import annotations

import json
import subprocess

import pytest

from filo.cli import main
from filo.kernels import REPRODUCIBLE_METRICS_ABS_TOL

COMMITTED = {"dataset": "synth_visa", "pixel_aupro": 0.3508186103, "image_auroc": 0.5260416667, "n_normal": 40}
DVC_YAML = """stages:
  evaluate:
    cmd: filo evaluate
    metrics:
    - results/a/metrics.json:
        cache: false
    - results/b/metrics.json
"""


def _git(folder, *arguments):
    subprocess.run(["git", *arguments], cwd=folder, check=True, capture_output=True)


@pytest.fixture
def project(tmp_path):
    """A git repository with a profile folder whose dvc.yaml declares two committed metrics files."""
    profile = tmp_path / "profiles" / "demo"
    for name in ("a", "b"):
        (profile / "results" / name).mkdir(parents=True)
        (profile / "results" / name / "metrics.json").write_text(json.dumps(COMMITTED))
    (profile / "dvc.yaml").write_text(DVC_YAML)
    _git(tmp_path, "init", "-q")
    _git(tmp_path, "add", ".")
    _git(tmp_path, "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-q", "-m", "metrics")
    return profile


def _rewrite(profile, name, **changes):
    (profile / "results" / name / "metrics.json").write_text(json.dumps({**COMMITTED, **changes}))


def test_a_run_within_the_tolerance_passes_and_prints_the_largest_difference(project, capsys):
    _rewrite(project, "a", pixel_aupro=COMMITTED["pixel_aupro"] + 1.4e-5)  # the Intel machine's largest move
    assert main(["check-repro", "--folder", str(project)]) == 0
    out = capsys.readouterr().out
    assert f"reproduced: 8 values within {REPRODUCIBLE_METRICS_ABS_TOL:g} of HEAD (largest difference 1.40e-05" in out
    assert "results/b/metrics.json" in out


@pytest.mark.parametrize("changes, key", [
    ({"pixel_aupro": COMMITTED["pixel_aupro"] + 2e-4}, "pixel_aupro"),
    ({"n_normal": 41}, "n_normal"),
    ({"dataset": "synth_mvtec"}, "dataset"),
    ({"image_auroc": None}, "image_auroc"),
])
def test_a_value_beyond_the_tolerance_or_a_changed_count_fails_and_is_named(project, capsys, changes, key):
    _rewrite(project, "b", **changes)
    assert main(["check-repro", "--folder", str(project)]) == 1
    out = capsys.readouterr().out
    [line] = [line for line in out.splitlines()[:-1] if "DIFFERENT" in line]
    assert line.startswith("results/b/metrics.json") and key in line
    assert "NOT reproduced: 1 of 8 values" in out


def test_the_tolerance_is_an_option(project, capsys):
    _rewrite(project, "a", pixel_aupro=COMMITTED["pixel_aupro"] + 2e-4)
    assert main(["check-repro", "--folder", str(project), "--tolerance", "1e-3"]) == 0
    assert main(["check-repro", "--folder", str(project), "--tolerance", "0"]) == 1


def test_a_missing_metrics_file_or_key_fails(project, capsys):
    (project / "results" / "a" / "metrics.json").unlink()
    metrics = {key: value for key, value in COMMITTED.items() if key != "n_normal"}
    (project / "results" / "b" / "metrics.json").write_text(json.dumps(metrics))
    assert main(["check-repro", "--folder", str(project)]) == 1
    out = capsys.readouterr().out
    assert "results/a/metrics.json  (file)" in out and "missing" in out
    assert "NOT reproduced: 2 of 5 values" in out


def test_what_makes_the_comparison_impossible_is_one_line_with_the_fix(project, tmp_path, capsys):
    assert main(["check-repro", "--folder", str(project), "--rev", "no-such-branch"]) == 2
    assert "git revision 'no-such-branch' not found" in capsys.readouterr().err

    (project / "results" / "a" / "metrics.json").write_text("{not json")
    assert main(["check-repro", "--folder", str(project)]) == 2
    assert "is not valid JSON" in capsys.readouterr().err

    outside = tmp_path.parent / f"{tmp_path.name}-not-git"
    outside.mkdir()
    (outside / "dvc.yaml").write_text(DVC_YAML)
    assert main(["check-repro", "--folder", str(outside)]) == 2
    assert "is not inside a git repository" in capsys.readouterr().err
    assert main(["check-repro", "--folder", str(tmp_path / "nowhere")]) == 2
    assert "dvc.yaml not found" in capsys.readouterr().err
