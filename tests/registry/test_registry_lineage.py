"""Lineage: git commit and DVC/sha256 hashes of the inputs."""

import subprocess

from filo.io import sha256_file
from filo.registry.lineage import collect_lineage, dvc_lock_hashes
from filo.tracking import git_state

LOCK = """schema: '2.0'
stages:
  train:
    cmd: filo train
    deps:
    - path: data/manifest.parquet
      hash: md5
      md5: 0123456789abcdef0123456789abcdef
      size: 10
    outs:
    - path: models/model.pt
      hash: md5
      md5: fedcba9876543210fedcba9876543210
      size: 5
"""


def test_inputs_named_in_dvc_lock_get_its_md5_and_others_their_sha256(tmp_path):
    (tmp_path / "dvc.lock").write_text(LOCK)
    (tmp_path / "models").mkdir()
    (tmp_path / "models" / "model.pt").write_bytes(b"weights")
    (tmp_path / "verdict.json").write_text("{}")
    lineage = collect_lineage(
        [tmp_path / "models" / "model.pt", tmp_path / "verdict.json"], dvc_lock=tmp_path / "dvc.lock", repo=tmp_path
    )
    assert lineage.input_hashes == {
        (tmp_path / "models" / "model.pt").as_posix(): "md5:fedcba9876543210fedcba9876543210",
        (tmp_path / "verdict.json").as_posix(): f"sha256:{sha256_file(tmp_path / 'verdict.json')}",
    }


def test_dvc_lock_paths_are_resolved_relative_to_the_lock_file(tmp_path):
    (tmp_path / "dvc.lock").write_text(LOCK)
    assert dvc_lock_hashes(tmp_path / "dvc.lock") == {
        (tmp_path / "data" / "manifest.parquet").resolve(): "0123456789abcdef0123456789abcdef",
        (tmp_path / "models" / "model.pt").resolve(): "fedcba9876543210fedcba9876543210",
    }
    assert dvc_lock_hashes(tmp_path / "missing.lock") == {}


def test_git_state_reports_the_head_commit_and_local_changes(tmp_path):
    def git(*args):
        return subprocess.run(["git", "-c", "user.name=t", "-c", "user.email=t@example.com", *args], cwd=tmp_path,
                              check=True, capture_output=True, text=True).stdout.strip()

    assert git_state(tmp_path) == (None, None)
    git("init", "-q")
    (tmp_path / "file.txt").write_text("one")
    git("add", "file.txt")
    git("commit", "-q", "-m", "first")
    head = git("rev-parse", "HEAD")
    assert git_state(tmp_path) == (head, False)
    (tmp_path / "file.txt").write_text("two")
    assert git_state(tmp_path) == (head, True)
    tags = collect_lineage([], repo=tmp_path, dvc_lock=tmp_path / "none").as_tags()
    assert tags == {"git.commit": head, "git.dirty": "true"}
