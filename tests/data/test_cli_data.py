"""The `filo data` command line: synth -> pack -> download -> index, error exit codes, light imports."""

from __future__ import annotations

import hashlib
import subprocess
import sys

from dataset_trees import build_mvtec_tree

from filo.cli import main
from filo.data.manifest import read_manifest

SMALL = ["--image-size", "32", "--n-train-good", "1", "--n-test-good", "1", "--n-test-per-defect", "1"]


def test_synth_pack_download_index_round_trip(tmp_path, http_server, capsys):
    archive = tmp_path / "VisA_20220922.tar"
    argv = ["data", "synth", "--layout", "visa", "--out", str(tmp_path / "made"), "--seed", "5", *SMALL]
    assert main([*argv, "--categories", "wood_grain", "--pack", str(archive)]) == 0
    assert archive.is_file()
    data = archive.read_bytes()
    url = http_server.add(archive.name, data)
    root = tmp_path / "data"
    sha = hashlib.sha256(data).hexdigest()
    assert main(["data", "download", "visa", "--root", str(root), "--url", url, "--sha256", sha]) == 0
    out = tmp_path / "visa.parquet"
    assert (
        main(["data", "index", "--name", "synth_visa", "--root", str(root / "visa"), "--out", str(out)])
        == 0
    )
    printed = capsys.readouterr().out
    assert f"visa dataset ready at {root / 'visa'}" in printed
    assert "wood_grain" in printed and f"manifest written to {out}" in printed
    frame = read_manifest(out)
    assert set(frame["category"]) == {"wood_grain"}
    assert frame.attrs["root"] == str(root / "visa")


def test_synth_refuses_to_overwrite_without_force(tmp_path, capsys):
    argv = [
        "data",
        "synth",
        "--layout",
        "mvtec",
        "--out",
        str(tmp_path / "d"),
        "--seed",
        "1",
        *SMALL,
        "--categories",
        "round_part",
    ]
    assert main(argv) == 0
    assert main(argv) == 2
    assert "already exists" in capsys.readouterr().err
    assert main([*argv, "--force"]) == 0


def test_index_errors_exit_2_with_the_list_and_skip_bad_writes_rejects(tmp_path, capsys):
    root = build_mvtec_tree(tmp_path / "mvtec")
    (root / "bolt/ground_truth/crack/000_mask.png").unlink()
    argv = ["data", "index", "--name", "mvtec", "--root", str(root), "--out", str(tmp_path / "m.parquet")]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert "filo data: error: 1 bad file(s)" in err
    assert "bolt/test/crack/000.png / mask " in err and "Traceback" not in err
    assert not (tmp_path / "m.parquet").exists()
    assert main([*argv, "--skip-bad"]) == 0
    assert f"rejects written to {tmp_path / 'm.rejects.parquet'}" in capsys.readouterr().out
    assert len(read_manifest(tmp_path / "m.parquet")) == 5


def test_stage_module_imports_no_heavy_libraries():
    code = (
        "import sys, filo.stages.data; print(sorted({'numpy', 'pandas', 'PIL', 'torch'} & set(sys.modules)))"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "[]"
