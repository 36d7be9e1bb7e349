"""Settings dataclasses: the strict loader from params files, and the CLI flags derived from the same fields."""

from __future__ import annotations

import argparse
from dataclasses import dataclass, field
from pathlib import Path
from typing import ClassVar, Literal

import pytest

from filo.errors import FiloError
from filo.settings import (
    add_settings_arguments,
    check_choices,
    field_docs,
    load_settings,
    settings_from_mapping,
    settings_overrides,
)


@dataclass(frozen=True)
class Inner:
    """A nested settings object."""

    size: int = 3
    """Side of something."""


@dataclass(frozen=True)
class Example:
    """Settings of a made-up stage."""

    SECTION: ClassVar[str] = "example"

    rate: float = 0.5
    """How fast."""
    mode: Literal["a", "b"] = "a"
    """Which way."""
    flag: bool = False
    """Whether to."""
    names: tuple[str, ...] = ("x", "y")
    """Some names."""
    pair: tuple[float, float] = (0.5, 0.999)
    """Two numbers."""
    path: Path | None = None
    """Somewhere."""
    inner: Inner = field(default_factory=Inner)
    """Nested."""
    extra: dict = field(default_factory=dict)
    """Free-form."""


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser()
    add_settings_arguments(parser, Example)
    return parser


def test_a_section_is_read_coerced_and_overridden(tmp_path):
    params = tmp_path / "params.yaml"
    params.write_text("other: {x: 1}\nexample:\n  rate: 1\n  names: [p, q, r]\n  pair: [0.9, 0.99]\n"
                      "  path: some/where\n  inner: {size: 7}\n")
    settings = load_settings(Example, params, {"mode": "b", "inner": {"size": 9}})
    assert settings == Example(rate=1.0, mode="b", names=("p", "q", "r"), pair=(0.9, 0.99),
                               path=Path("some/where"), inner=Inner(9))
    assert isinstance(settings.rate, float)
    assert load_settings(Example) == Example()


@pytest.mark.parametrize(("values", "message"), [
    ({"rat": 1.0}, (r"unknown key\(s\) \['rat'\] in section 'example' of .*params.yaml; known keys of Example: "
                    r"\['extra', 'flag', 'inner', 'mode', 'names', 'pair', 'path', 'rate'\]")),
    ({"inner": {"sise": 1}}, r"unknown key\(s\) \['sise'\] in section 'example' of .*: inner; known keys of Inner"),
    ({"mode": "c"}, r"mode must be one of \['a', 'b'\], got 'c'"),
    ({"rate": "fast"}, "rate must be a float, got 'fast'"),
    ({"flag": 1}, "flag must be a bool, got 1"),
    ({"pair": [1.0]}, r"pair must hold 2 values, got \[1.0\]"),
    ({"inner": 3}, "inner must be a mapping of Inner fields, got 3"),
])
def test_bad_values_are_named_with_the_file_and_the_fix(tmp_path, values, message):
    import yaml

    params = tmp_path / "params.yaml"
    params.write_text(yaml.safe_dump({"example": values}))
    with pytest.raises(FiloError, match=message):
        load_settings(Example, params)


def test_a_section_that_is_not_a_mapping_and_a_missing_file_are_explained(tmp_path):
    params = tmp_path / "params.yaml"
    params.write_text("example: [1, 2]\n")
    with pytest.raises(FiloError, match="section 'example' of .* must be a mapping"):
        load_settings(Example, params)
    with pytest.raises(FiloError, match="params file .*nope.yaml does not exist"):
        load_settings(Example, tmp_path / "nope.yaml")


def test_every_field_is_a_flag_with_its_docstring_and_default_as_help():
    text = _parser().format_help()
    for flag in ("--rate", "--mode", "--flag", "--no-flag", "--names", "--pair", "--path", "--inner-size", "--extra"):
        assert flag in text
    assert "How fast." in text and "default: 0.5" in text and "Side of something." in text
    assert field_docs(Example)["names"] == "Some names."


def test_only_given_flags_override_the_params_file(tmp_path):
    params = tmp_path / "params.yaml"
    params.write_text("example: {rate: 2.0, mode: b}\n")
    args = _parser().parse_args(["--names", "u,v", "--pair", "0.1,0.2", "--no-flag", "--inner-size", "4",
                                 "--extra", "{k: 1}"])
    overrides = settings_overrides(args, Example)
    assert overrides == {"names": "u,v", "pair": "0.1,0.2", "flag": False, "inner": {"size": 4}, "extra": {"k": 1}}
    settings = load_settings(Example, params, overrides)
    assert settings == Example(rate=2.0, mode="b", flag=False, names=("u", "v"), pair=(0.1, 0.2),
                               inner=Inner(4), extra={"k": 1})
    assert settings_overrides(_parser().parse_args([]), Example) == {}


def test_an_optional_field_is_unset_with_none_on_the_command_line(tmp_path):
    params = tmp_path / "params.yaml"
    params.write_text("example: {path: some/where}\n")
    overrides = settings_overrides(_parser().parse_args(["--path", "none"]), Example)
    assert overrides == {"path": None}
    assert load_settings(Example, params, overrides).path is None
    assert load_settings(Example, params, settings_overrides(_parser().parse_args([]), Example)).path == Path(
        "some/where")


def test_mapping_values_build_nested_settings_and_keep_objects():
    assert settings_from_mapping(Example, {"inner": Inner(5)}).inner == Inner(5)
    assert settings_from_mapping(Example, {"path": None}).path is None


@dataclass(frozen=True)
class Choices:
    """Settings whose allowed values are Literal types."""

    kind: Literal["x", "y"] | None = None
    """An optional choice."""
    order: tuple[Literal["p", "q"], ...] = ("p",)
    """A list of choices."""

    def __post_init__(self) -> None:
        check_choices(self)


def test_literal_fields_show_their_choices_and_optional_ones_take_none():
    parser = argparse.ArgumentParser()
    add_settings_arguments(parser, Choices)
    text = parser.format_help()
    assert "--kind {x,y,none}" in text and "each one of {p,q}" in text
    assert settings_overrides(parser.parse_args(["--kind", "none"]), Choices) == {"kind": None}
    assert settings_overrides(parser.parse_args(["--kind", "y"]), Choices) == {"kind": "y"}
    with pytest.raises(SystemExit):
        parser.parse_args(["--kind", "z"])


def test_a_literal_is_checked_in_post_init_as_in_the_loader():
    with pytest.raises(FiloError, match=r"Choices.kind must be one of \['x', 'y'\], got 'z'"):
        Choices(kind="z")
    with pytest.raises(FiloError, match=r"Choices.order must be one of \['p', 'q'\], got 'r'"):
        Choices(order=("p", "r"))
    with pytest.raises(FiloError, match=r"choices: order must be one of \['p', 'q'\], got 'r'"):
        settings_from_mapping(Choices, {"order": ["q", "r"]}, source="choices")


@pytest.mark.parametrize(("command", "shown"), [
    ("train", ["--dice-reduction {authors,per_image}", "--mosaic-label {mosaic,authors}",
               "--model-preset {paper,tiny}", "--device {auto,cpu,cuda}"]),
    ("evaluate", ["--box-rule {authors,sane}", "--threshold-rule {f1,fpr}"]),
])
def test_stage_help_lists_the_choices_of_literal_settings(command, shown, capsys):
    from filo.cli import main

    with pytest.raises(SystemExit):
        main([command, "--help"])
    text = capsys.readouterr().out
    assert [flag for flag in shown if flag not in text] == []


def test_a_bad_params_value_is_rejected_with_its_key_value_and_choices(tmp_path):
    from filo.training import TrainParams

    params = tmp_path / "params.yaml"
    params.write_text("train:\n  dice_reduction: mean\n")
    with pytest.raises(FiloError, match=r"section 'train' of .*params.yaml: dice_reduction must be one of "
                                        r"\['authors', 'per_image'\], got 'mean'"):
        load_settings(TrainParams, params)


@pytest.mark.parametrize(("build", "message"), [
    (lambda: _train(dice_reduction="mean"), r"train.dice_reduction must be one of \['authors', 'per_image'\]"),
    (lambda: _train(model_preset="huge"), r"train.model_preset must be one of \['paper', 'tiny'\], got 'huge'"),
    (lambda: _evaluation(batch_size=0), "evaluate.batch_size must be at least 1, got 0"),
    (lambda: _describe(sources=("user", "llm", "user")), r"source order \['user', 'llm', 'user'\] is invalid"),
    (lambda: _boxes(batch_size=0), "boxes.batch_size and boxes.shard_size must be at least 1, got 0 and 64"),
    (lambda: _detector(kind="big"), r"detector.kind must be one of \['tiny', 'grounding_dino'\], got 'big'"),
    (lambda: _dataset(layout="mvtec2", source="download"), r"DatasetSpec.layout must be one of \['mvtec', 'visa', "),
])
def test_settings_classes_validate_their_own_values(build, message):
    with pytest.raises(FiloError, match=message):
        build()


def _train(**values):
    from filo.training import TrainParams

    return TrainParams(**values)


def _evaluation(**values):
    from filo.evaluation.settings import EvaluationSettings

    return EvaluationSettings(**values)


def _describe(**values):
    from filo.descriptions.stage import DescribeSettings

    return DescribeSettings(**values)


def _boxes(**values):
    from filo.boxes.stage import BoxesSettings

    return BoxesSettings(**values)


def _detector(**values):
    from filo.boxes.stage import DetectorSettings

    return DetectorSettings(**values)


def _dataset(**values):
    from filo.data.registry import DatasetSpec

    return DatasetSpec(**values)
