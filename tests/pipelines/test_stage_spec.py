"""One declaration drives a stage everywhere: a toy stage declared here gets its `filo` parser, its dvc.yaml entry,
its MLflow record and its Prefect task from its `StageSpec` alone."""

from __future__ import annotations

import argparse
from dataclasses import dataclass, field
from pathlib import Path
from typing import ClassVar

import mlflow
import pytest
import yaml
from filo.pipelines import tasks
from filo.pipelines.dag import Stage, dvc_stage

from filo.errors import FiloError
from filo.settings import InputPath, OutputPath
from filo.stagespec import StageSpec, option, path_in, path_out
from filo.tracking import STAGES_EXPERIMENT


@dataclass(frozen=True)
class ToySettings:
    """The toy stage's settings (params section `toy`)."""

    SECTION: ClassVar[str] = "toy"

    times: int = 2
    """How often the source text is repeated."""
    progress: bool = field(default=False, metadata={"affects_result": False})
    """Report progress (changes no result)."""


def repeat_text(*, source: Path, notes: Path | None, out: Path, label: str | None, settings: ToySettings) -> None:
    """The toy stage's function: `label`, then the source text `settings.times` times, then the notes."""
    notes_text = notes.read_text() if notes is not None else ""
    out.write_text((label or "") + source.read_text() * settings.times + notes_text)


TOY = StageSpec(
    ("toy",), repeat_text, ToySettings,
    (path_in("source", "text to repeat", required=True, dataset=True),
     path_in("notes", "text appended once"),
     path_out("out", "file to write", required=True),
     option("label", "text written first", metavar="TEXT")),
    help="repeat a text",
)


def _filo_parser(spec: StageSpec) -> argparse.ArgumentParser:
    """A `filo`-like parser with `spec` registered as a subcommand, as `filo.cli.build_parser` registers stages."""
    parser = argparse.ArgumentParser(prog="filo")
    spec.register(parser.add_subparsers(dest="command", required=True))
    return parser


def test_the_declaration_is_the_command_line():
    parser = _filo_parser(TOY)
    usage = parser._subparsers._group_actions[0].choices["toy"].format_help()
    for flag in ("--source", "--notes", "--out", "--label TEXT", "--params", "--times", "--progress"):
        assert flag in usage
    args = parser.parse_args(["toy", "--source", "a.txt", "--out", "b.txt", "--times", "3"])
    assert type(args.source) is InputPath and type(args.out) is OutputPath and args.notes is None
    assert args.stage_spec is TOY and args.func == TOY.run
    with pytest.raises(SystemExit):  # --out is required
        parser.parse_args(["toy", "--source", "a.txt"])


def test_a_path_bound_to_an_undeclared_name_or_a_missing_required_one_is_an_error():
    with pytest.raises(TypeError, match=r"declares no \['sourc'\]"):
        TOY.bind(sourc="a.txt", out="b.txt")
    with pytest.raises(TypeError, match=r"requires \['out'\]"):
        TOY.bind(source="a.txt")
    with pytest.raises(TypeError, match="not one of its inputs"):
        StageSpec(("bad",), repeat_text, None, (path_out("out", "file"),), help="", fanout="out")


def test_the_declaration_is_the_dvc_stage():
    stage = Stage("toy_a", TOY.bind(source="in.txt", out="out.txt", label="x"))
    entry = dvc_stage(stage, {"toy": {"times": 3, "progress": True}})
    assert entry["cmd"] == "filo toy --params params.yaml --source in.txt --out out.txt --label x"
    assert entry["deps"][-1] == "in.txt" and "${code_root}/src/filo/stagespec.py" in entry["deps"]
    assert entry["outs"] == ["out.txt"]
    assert entry["params"] == ["toy.times"]  # progress changes no result: not tracked


def test_the_prefect_task_runs_the_declared_function_and_records_the_declared_paths(tmp_path):
    (tmp_path / "in.txt").write_text("ab")
    (tmp_path / "notes.txt").write_text("!")
    params = tmp_path / "params.yaml"
    params.write_text(yaml.safe_dump({"toy": {"times": 3}}))
    stage = Stage("toy_a", TOY.bind(source="in.txt", notes="notes.txt", out="out.txt"))

    tasks.stage_task.fn(stage, tmp_path, params)

    assert (tmp_path / "out.txt").read_text() == "ababab!"
    [run] = mlflow.search_runs(experiment_names=[STAGES_EXPERIMENT], output_format="list")
    tags = run.data.tags
    assert (tags["filo.stage"], tags["filo.command"]) == ("toy_a", "toy")
    for path, role in ((tmp_path / "in.txt", "input"), (tmp_path / "notes.txt", "input"), (params, "input"),
                       (tmp_path / "out.txt", "output")):
        assert tags[f"{role}.{path.as_posix()}"].startswith("md5:"), path
    assert run.data.params["toy.times"] == "3"
    datasets = {(item.dataset.name, {tag.key: tag.value for tag in item.tags}["mlflow.data.context"])
                for item in run.inputs.dataset_inputs}
    assert datasets == {((tmp_path / "in.txt").as_posix(), "source")}  # notes are not declared a dataset


PAIRS = StageSpec(
    ("pairs",), repeat_text, None,
    (path_in("first", "first of a pair", required=True, group="pair"),
     path_in("second", "second of a pair", required=True, group="pair"),
     path_in("extra", "optional third of a pair", group="pair", group_optional=True)),
    help="pairs",
)


def test_a_group_is_bound_and_written_once_per_item_and_must_be_given_whole():
    binding = PAIRS.bind(first=["a1", "a2"], second=["b1", "b2"])
    assert binding.argv()[3:] == ["--first", "a1", "--second", "b1", "--first", "a2", "--second", "b2"]
    assert binding.paths("in") == ["a1", "b1", "a2", "b2"]
    with pytest.raises(FiloError, match="2 --first, 1 --second, 0 --extra"):
        PAIRS.bind(first=["a1", "a2"], second=["b1"])
    args = _filo_parser(PAIRS).parse_args(["pairs", "--first", "a1", "--second", "b1", "--extra", "c1",
                                           "--first", "a2", "--second", "b2"])
    with pytest.raises(FiloError, match="2 --first, 2 --second, 1 --extra"):
        PAIRS.run(args)
