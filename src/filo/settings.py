"""Settings of a pipeline stage: one frozen dataclass per params section, one strict loader, derived CLI flags.

A stage's knobs are the fields of one frozen dataclass; its defaults live only there and
its attribute docstrings are the documentation. Everything else is derived from it:

- `load_settings(cls, params_file, overrides)` reads the section `cls.SECTION` of a params
  file (DVC's ``params.yaml``), rejects unknown keys by name, coerces YAML lists into the
  field types and applies overrides;
- `add_settings_arguments(parser, cls)` adds one command-line flag per field (nested
  settings get a prefix: ``--llm-model``), with its type, choices and help;
- `settings_overrides(args, cls)` turns the flags a user gave back into overrides.

So a new field is picked up by the CLI, `dvc.yaml` and the Prefect flow at once; no runner
lists keys of its own. A field that does not change a stage's results (workers, devices,
progress bars, MLflow names) says so in its metadata, ``field(..., metadata={AFFECTS_RESULT:
False})``; `result_keys` leaves it out of the keys DVC tracks, so editing it reruns nothing.
"""

from __future__ import annotations

import argparse
import ast
import dataclasses
import functools
import inspect
import itertools
import os
import sys
import types
import typing
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, TypeVar

from filo.errors import FiloError

S = TypeVar("S")

__all__ = [
    "AFFECTS_RESULT",
    "InputPath",
    "OutputPath",
    "add_params_argument",
    "add_settings_arguments",
    "check_choices",
    "field_docs",
    "load_settings",
    "read_params",
    "result_keys",
    "settings_from_args",
    "settings_from_mapping",
    "settings_overrides",
]


AFFECTS_RESULT = "affects_result"
"""Field metadata key: False marks a setting that does not change the stage's outputs (not tracked by DVC)."""


def affects_result(field: dataclasses.Field) -> bool:
    """Whether a settings field changes a stage's results (every field unless its metadata says otherwise)."""
    return bool(field.metadata.get(AFFECTS_RESULT, True))


def _has_runtime_fields(cls: type) -> bool:
    """Whether a settings class has a field, at any depth, that does not change results."""
    hints = _hints(cls)
    for field in _fields(cls):
        nested, _ = _strip_optional(hints[field.name])
        if not affects_result(field) or (_is_settings(nested) and _has_runtime_fields(nested)):
            return True
    return False


def result_keys(cls: type, values: Mapping[str, Any]) -> list[str]:
    """The dotted keys of `values` (a params section of `cls`) that change results, in the order they are given.

    A field marked ``affects_result: False`` is left out; a nested settings mapping is one key
    unless some field inside it is left out (then its keys are listed one by one). A key
    `cls` does not know is kept (the strict loader reports it when the stage runs).
    """
    fields = {field.name: field for field in _fields(cls)}
    hints = _hints(cls)
    keys: list[str] = []
    for key, value in values.items():
        field = fields.get(key)
        if field is None:
            keys.append(key)
            continue
        if not affects_result(field):
            continue
        nested, _ = _strip_optional(hints[key])
        if _is_settings(nested) and isinstance(value, Mapping) and _has_runtime_fields(nested):
            keys += [f"{key}.{inner}" for inner in result_keys(nested, value)]
        else:
            keys.append(key)
    return keys


def _fields(cls: type) -> tuple[dataclasses.Field, ...]:
    if not (dataclasses.is_dataclass(cls) and isinstance(cls, type)):
        raise TypeError(f"{cls!r} is not a settings dataclass")
    return dataclasses.fields(cls)


@functools.cache
def _hints(cls: type) -> dict[str, Any]:
    return typing.get_type_hints(cls, globalns=vars(sys.modules[cls.__module__]))


def _strip_optional(hint: Any) -> tuple[Any, bool]:
    """(X, True) for `X | None`, (hint, False) otherwise."""
    origin = typing.get_origin(hint)
    if origin in (typing.Union, types.UnionType):
        arguments = [arg for arg in typing.get_args(hint) if arg is not type(None)]
        if len(arguments) == 1 and len(arguments) < len(typing.get_args(hint)):
            return arguments[0], True
    return hint, False


def _is_settings(hint: Any) -> bool:
    return dataclasses.is_dataclass(hint) and isinstance(hint, type)


@functools.cache
def field_docs(cls: type) -> dict[str, str]:
    """The attribute docstrings of a dataclass (the string literal right after each field), by field name."""
    docs: dict[str, str] = {}
    for klass in reversed(cls.__mro__):
        if klass is object or not dataclasses.is_dataclass(klass):
            continue
        try:
            tree = ast.parse(inspect.cleandoc("\n" + inspect.getsource(klass)))
        except (OSError, TypeError, SyntaxError):
            continue
        body = tree.body[0].body if tree.body and isinstance(tree.body[0], ast.ClassDef) else []
        for statement, following in itertools.pairwise(body):
            if (isinstance(statement, ast.AnnAssign) and isinstance(statement.target, ast.Name)
                    and isinstance(following, ast.Expr) and isinstance(following.value, ast.Constant)
                    and isinstance(following.value.value, str)):
                docs[statement.target.id] = " ".join(following.value.value.split())
    return docs


def _check_choice(value: Any, hint: Any, where: str) -> None:
    """FiloError unless `value` is one of the Literal type `hint`'s values (naming where, the value, the choices)."""
    choices = typing.get_args(hint)
    if value not in choices:
        raise FiloError(f"{where} must be one of {list(choices)}, got {value!r}")


def check_choices(settings: Any) -> None:
    """FiloError unless every `Literal`-typed field of the dataclass `settings` holds one of its values.

    Called by a settings class's ``__post_init__``, so a value set in code is held to the
    same choices as one read from a params file or a flag (the Literal is their one source).
    Checks `Literal[...]`, `Literal[...] | None` and `tuple[Literal[...], ...]` fields; an error
    names the field as ``<SECTION>.<field>`` (the class name for a class without a section).
    """
    cls = type(settings)
    hints = _hints(cls)
    for field in _fields(cls):
        hint, optional = _strip_optional(hints[field.name])
        value = getattr(settings, field.name)
        where = f"{getattr(cls, 'SECTION', cls.__name__)}.{field.name}"
        if value is None and optional:
            continue
        if typing.get_origin(hint) is typing.Literal:
            _check_choice(value, hint, where)
        elif typing.get_origin(hint) is tuple and _item_literal(hint) is not None:
            for item in value:
                _check_choice(item, _item_literal(hint), where)


def _item_literal(hint: Any) -> Any:
    """The Literal item type of `tuple[Literal[...], ...]`, else None."""
    arguments = typing.get_args(hint)
    if len(arguments) == 2 and arguments[1] is Ellipsis and typing.get_origin(arguments[0]) is typing.Literal:
        return arguments[0]
    return None


def _coerce(value: Any, hint: Any, where: str) -> Any:
    """`value` (from YAML or a flag) as the field type `hint`: lists become tuples, mappings settings."""
    hint, optional = _strip_optional(hint)
    if value is None:
        if optional or hint is Any:
            return None
        raise FiloError(f"{where} must not be null")
    if _is_settings(hint):
        if isinstance(value, hint):
            return value
        if not isinstance(value, Mapping):
            raise FiloError(f"{where} must be a mapping of {hint.__name__} fields, got {value!r}")
        return settings_from_mapping(hint, value, source=where)
    origin = typing.get_origin(hint)
    if origin is tuple:
        if isinstance(value, str):  # a command-line value: "a,b" or "0.5,0.999"
            import yaml

            value = [yaml.safe_load(part) for part in value.split(",") if part.strip()]
        if not isinstance(value, (list, tuple)):
            raise FiloError(f"{where} must be a list, got {value!r}")
        arguments = typing.get_args(hint)
        item_hints = [arguments[0]] * len(value) if len(arguments) == 2 and arguments[1] is Ellipsis else arguments
        if len(item_hints) != len(value):
            raise FiloError(f"{where} must hold {len(item_hints)} values, got {list(value)!r}")
        return tuple(_coerce(item, item_hint, where) for item, item_hint in zip(value, item_hints))
    if origin is typing.Literal:
        _check_choice(value, hint, where)
        return value
    if hint is float and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    if hint is Path and isinstance(value, (str, os.PathLike)):
        return Path(value)
    if hint in (int, float, str, bool) and not isinstance(value, hint) or (hint is int and isinstance(value, bool)):
        raise FiloError(f"{where} must be a {hint.__name__}, got {value!r}")
    return value


def settings_from_mapping(cls: type[S], values: Mapping[str, Any], *, source: str = "settings") -> S:
    """Build `cls` from a mapping; an unknown key is a FiloError naming it and listing the known ones."""
    if not isinstance(values, Mapping):
        raise FiloError(f"{source} must be a mapping of {cls.__name__} fields, got {values!r}")
    fields = {field.name: field for field in _fields(cls) if field.init}
    unknown = sorted(set(values) - set(fields))
    if unknown:
        raise FiloError(f"unknown key(s) {unknown} in {source}; known keys of {cls.__name__}: {sorted(fields)}")
    hints = _hints(cls)
    coerced = {key: _coerce(value, hints[key], f"{source}: {key}") for key, value in values.items()}
    try:
        return cls(**coerced)
    except TypeError as error:
        raise FiloError(f"bad {cls.__name__} in {source}: {error}") from error
    except ValueError as error:
        raise FiloError(f"bad {cls.__name__} in {source}: {error}") from error


def read_params(params_file: str | os.PathLike) -> dict[str, Any]:
    """The YAML mapping in `params_file`; FiloError naming the file when it is missing or not a mapping."""
    import yaml

    path = Path(params_file)
    if not path.is_file():
        raise FiloError(f"params file {path} does not exist; pass the pipeline's params.yaml (--params)")
    try:
        document = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as error:
        raise FiloError(f"params file {path} is not valid YAML: {error}") from error
    if document is None:
        return {}
    if not isinstance(document, dict):
        raise FiloError(f"params file {path} must hold a mapping of sections, found {type(document).__name__}")
    return document


def _merge(base: dict[str, Any], overrides: Mapping[str, Any]) -> dict[str, Any]:
    merged = dict(base)
    for key, value in overrides.items():
        if isinstance(value, Mapping) and isinstance(merged.get(key), Mapping):
            merged[key] = _merge(dict(merged[key]), value)
        else:
            merged[key] = value
    return merged


def load_settings(
    cls: type[S], params_file: str | os.PathLike | None = None, overrides: Mapping[str, Any] | None = None
) -> S:
    """`cls` from the section `cls.SECTION` of `params_file` (defaults when None), then `overrides`.

    A missing section means all defaults; a section that is not a mapping, or holds an
    unknown key, is a FiloError that names the file, the section and the known keys.
    """
    section_name = getattr(cls, "SECTION", None)
    if section_name is None:
        raise TypeError(f"{cls.__name__} has no SECTION naming its params section")
    values: dict[str, Any] = {}
    source = f"the {section_name!r} settings"
    if params_file is not None:
        section = read_params(params_file).get(section_name) or {}
        source = f"section {section_name!r} of {params_file}"
        if not isinstance(section, Mapping):
            raise FiloError(f"{source} must be a mapping, found {section!r}")
        values = dict(section)
    return settings_from_mapping(cls, _merge(values, overrides or {}), source=source)


def _flag(prefix: str, name: str) -> str:
    return "--" + (prefix + name).replace("_", "-")


def _dest(prefix: str, name: str) -> str:
    return "settings__" + (prefix + name)


_UNSET = object()
"""What an optional field's flag parses 'none' to: an explicit None (an absent flag stays None: not given)."""


def _or_none(parse: Callable[[str], Any]) -> Callable[[str], Any]:
    """A flag type for an optional field: 'none' means None, anything else is parsed by `parse`."""

    def convert(text: str) -> Any:
        return _UNSET if text.strip().lower() in ("none", "null") else parse(text)

    convert.__name__ = getattr(parse, "__name__", "value")
    return convert


def _one_of(choices: list[str]) -> Callable[[str], str]:
    """A flag type accepting only `choices` (for an optional Literal field, whose 'none' argparse's choices reject)."""

    def convert(text: str) -> str:
        if text not in choices:
            raise argparse.ArgumentTypeError(f"invalid choice: {text!r} (choose from {', '.join([*choices, 'none'])})")
        return text

    return convert


def _argument_type(hint: Any, optional: bool = False) -> tuple[dict[str, Any], str]:
    """argparse keywords for a field type, and a word for the help's value format."""
    import yaml

    if optional and hint in (int, float, str, Path):
        return {"type": _or_none(str if hint is Path else hint)}, "'none' to unset"
    if hint is bool:
        return {"action": argparse.BooleanOptionalAction}, ""
    if typing.get_origin(hint) is typing.Literal:
        choices = list(typing.get_args(hint))
        if optional:
            return {"type": _or_none(_one_of(choices)), "metavar": "{" + ",".join([*choices, "none"]) + "}"}, ""
        return {"choices": choices}, ""
    if hint in (int, float):
        return {"type": hint}, ""
    if hint in (str, Path):
        return {"type": str}, ""
    if typing.get_origin(hint) is tuple:
        item = _item_literal(hint)
        if item is not None:
            return {"type": str}, f"comma-separated, each one of {{{','.join(typing.get_args(item))}}}"
        return {"type": str}, "comma-separated"
    return {"type": yaml.safe_load}, "a YAML value"


def add_settings_arguments(
    parser: argparse.ArgumentParser | argparse._ArgumentGroup, cls: type, *, prefix: str = "",
    exclude: tuple[str, ...] = (),
) -> None:
    """Add one flag per field of `cls` (recursing into nested settings with a prefix), all defaulting to unset.

    The help text is the field's attribute docstring and its default; an unset flag leaves
    the params file's value (or the dataclass default) in place.
    """
    docs = field_docs(cls)
    hints = _hints(cls)
    for field in _fields(cls):
        if not field.init or field.name in exclude:
            continue
        hint, optional = _strip_optional(hints[field.name])
        if _is_settings(hint):
            group = parser.add_argument_group(f"{field.name} ({hint.__name__})", docs.get(field.name))
            add_settings_arguments(group, hint, prefix=f"{prefix}{field.name}_")
            continue
        keywords, form = _argument_type(hint, optional)
        default = field.default if field.default is not dataclasses.MISSING else (
            field.default_factory() if field.default_factory is not dataclasses.MISSING else None)
        shown = ",".join(map(str, default)) if isinstance(default, tuple) else default
        text = docs.get(field.name, "")
        details = ", ".join(part for part in (form, f"default: {shown}") if part)
        help_text = f"{text} ({details})".strip().replace("%", "%%")
        keywords.setdefault("metavar", None if "choices" in keywords or hint is bool else field.name.upper())
        parser.add_argument(_flag(prefix, field.name), dest=_dest(prefix, field.name), default=None,
                            help=help_text, **keywords)


def settings_overrides(args: argparse.Namespace, cls: type, *, prefix: str = "") -> dict[str, Any]:
    """The fields of `cls` that were given on the command line (see `add_settings_arguments`), nested."""
    overrides: dict[str, Any] = {}
    hints = _hints(cls)
    for field in _fields(cls):
        hint, _ = _strip_optional(hints[field.name])
        if _is_settings(hint):
            nested = settings_overrides(args, hint, prefix=f"{prefix}{field.name}_")
            if nested:
                overrides[field.name] = nested
            continue
        value = getattr(args, _dest(prefix, field.name), None)
        if value is not None:
            overrides[field.name] = None if value is _UNSET else value
    return overrides


def add_params_argument(parser: argparse.ArgumentParser, *, default: str | os.PathLike | None = None,
                        help: str | None = None) -> None:
    """The `--params FILE` option of every stage command (the pipeline's params.yaml); `default`: the file read
    when none is given (None: the built-in defaults), `help` replaces the standard text."""
    parser.add_argument("--params", type=InputPath, metavar="FILE", default=None if default is None else InputPath(default),
                        help=help or "params file whose section of this stage holds its settings (DVC's params.yaml); "
                        "flags below override single values (default: the built-in defaults)")


def settings_from_args(args: argparse.Namespace, cls: type[S]) -> S:
    """`cls` from `--params` (see `add_params_argument`) with the flags the user gave on top.

    The loaded settings are also kept on `args` (`loaded_settings(args)`), for the stage's run record.
    """
    settings = load_settings(cls, args.params, settings_overrides(args, cls))
    vars(args).setdefault(_LOADED, []).append(settings)
    return settings


_LOADED = "settings__loaded"


def loaded_settings(args: argparse.Namespace) -> list[Any]:
    """The settings objects `settings_from_args` loaded for this command, in load order."""
    return list(getattr(args, _LOADED, []))


class InputPath(type(Path())):
    """The `type=` of a command's path argument that the stage reads (recorded as a stage input)."""


class OutputPath(type(Path())):
    """The `type=` of a command's path argument that the stage writes (recorded as a stage output)."""

