"""A pipeline stage declared once: its paths, options, settings, function and fan-out.

A stage's library package declares it next to its function, as one `StageSpec`, e.g.::

    EVALUATE = StageSpec(
        ("evaluate",), run_evaluate, EvaluationSettings,
        (path_in("model", "FiLo checkpoint (.pt)", required=True),
         path_in("manifest", "manifest Parquet of the target dataset", required=True, dataset=True),
         ...,
         path_out("out_dir", "output folder (replaced when complete)", required=True)),
        help="...", fanout="manifest")

Everything else is derived from that declaration:

- the `filo` subcommand (`StageSpec.register`): one flag per declared name (``out_dir`` is
  ``--out-dir``), a path's type marking it read or written, ``--params`` and one flag per
  settings field (`filo.settings.add_settings_arguments`); the parsed command calls the
  function with each declared name as a keyword, ``settings=`` the loaded settings and, when
  declared, ``params_file=``;
- the DAG stage (`StageSpec.bind`): path values bound to declared names, in the order of the
  declaration (members of a repeated `group` interleaved, one set per repetition); an
  undeclared name or a missing required one is an error, so a path cannot be declared in one
  place only;
- the MLflow record of a run as a pipeline stage (`StageSpec.recorded`): inputs and outputs
  by declared name, the inputs declared ``dataset=True`` also logged as MLflow datasets;
  `filo.cli.run_parsed` and the Prefect fan-out (`filo.pipelines.fanout`) both use it;
- the Prefect task and its fan-out: `fanout` names the input split into shards.

The function returns the command's exit code (an int) or anything else for success (exit 0).
"""

from __future__ import annotations

import argparse
import contextlib
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from filo.errors import FiloError
from filo.settings import (
    InputPath,
    OutputPath,
    add_params_argument,
    add_settings_arguments,
    settings_from_args,
)

Role = Literal["in", "out", "option"]

SPEC_DEST = "stage_spec"
"""Where a parsed stage command keeps its `StageSpec` (`filo.cli.run_parsed` records the run with it)."""


@dataclass(frozen=True)
class Param:
    """One declared argument of a stage: a path it reads ("in"), a path it writes ("out"), or a plain option."""

    name: str
    """The keyword the function receives; the flag is ``--`` + the name with dashes (``out_dir``: ``--out-dir``)."""
    role: Role
    help: str
    required: bool = False
    repeat: bool = False
    """Given once per item (``--model a --model b``); the function receives a list (None when not given)."""
    dataset: bool = False
    """An input whose file is also logged as an MLflow dataset input of the stage's run."""
    group: str | None = None
    """Repeated arguments given together once per item (e.g. per direction): equally many values, written on
    the command line interleaved; when one member is given, every member is unless it is `group_optional`."""
    group_optional: bool = False
    """A group member that may be left out when the others are given."""
    keywords: Mapping[str, Any] = field(default_factory=dict)
    """An option's further argparse keywords (choices, metavar, action)."""

    @property
    def flag(self) -> str:
        """The command-line flag of the argument."""
        return "--" + self.name.replace("_", "-")

    @property
    def switch(self) -> bool:
        """An option given as a bare flag (``--resume``), with no value."""
        return self.keywords.get("action") == "store_true"


def path_in(name: str, help: str, *, required: bool = False, repeat: bool = False, dataset: bool = False,
            group: str | None = None, group_optional: bool = False) -> Param:
    """A path the stage reads (recorded as an input of its run, a DVC dep of its DAG stages)."""
    return Param(name, "in", help, required=required, repeat=repeat or group is not None, dataset=dataset,
                 group=group, group_optional=group_optional)


def path_out(name: str, help: str, *, required: bool = False) -> Param:
    """A path the stage writes (recorded as an output of its run, a DVC out of its DAG stages)."""
    return Param(name, "out", help, required=required)


def option(name: str, help: str, *, required: bool = False, **keywords: Any) -> Param:
    """A plain option of the stage (argparse `keywords`: choices, metavar, action)."""
    return Param(name, "option", help, required=required, keywords=keywords)


@dataclass(frozen=True)
class StageSpec:
    """The one declaration of a stage: command words, function, settings class and arguments (see the module)."""

    command: tuple[str, ...]
    """The `filo` subcommand words, e.g. ("data", "index")."""
    function: Callable[..., Any]
    settings: type | None
    """The settings class (a params section) the function receives as ``settings=``, loaded from ``--params``."""
    arguments: tuple[Param, ...]
    """The arguments, in command-line order."""
    help: str
    description: str = ""
    fanout: str | None = None
    """The input path a fanned-out run splits into shards (its test images), or None: the stage runs whole."""
    reads: Callable[[], tuple[type, ...]] | None = None
    """Further settings classes whose params sections the stage reads (through ``params_file``); DVC tracks them."""
    params_file: bool = False
    """Whether the function also receives the params file (``params_file=``): it reads more than its section."""
    params_default: str | Path | None = None
    """The ``--params`` file used when none is given (None: the built-in defaults)."""
    params_help: str | None = None
    """The help of ``--params`` when it is not the standard one (a stage that reads a whole profile)."""

    def __post_init__(self) -> None:
        names = [param.name for param in self.arguments]
        duplicated = sorted({name for name in names if names.count(name) > 1} | {"settings", "params", "params_file"}
                            & set(names))
        if duplicated:
            raise TypeError(f"stage {self.name!r} declares {duplicated} twice or as a reserved name")
        for param in self.arguments:
            if param.group is not None and not param.repeat:
                raise TypeError(f"stage {self.name!r}: {param.name} is in group {param.group!r} but not repeated")
        if self.fanout is not None and self.fanout not in self.names("in"):
            raise TypeError(f"stage {self.name!r} fans out over {self.fanout!r}, which is not one of its inputs "
                            f"{self.names('in')}")

    @property
    def name(self) -> str:
        """The command words, e.g. "data index"."""
        return " ".join(self.command)

    @property
    def module(self) -> str:
        """The module declaring the stage's function (the root of its code dependencies)."""
        return self.function.__module__

    def names(self, role: Role) -> list[str]:
        """The declared names of one role, in declaration order."""
        return [param.name for param in self.arguments if param.role == role]

    def tracked_settings(self) -> tuple[type, ...]:
        """The settings classes whose params sections the stage reads."""
        return (*(self.reads() if self.reads else ()), *((self.settings,) if self.settings else ()))

    # -- the command line ---------------------------------------------------------------------------------

    def add_arguments(self, parser: argparse.ArgumentParser) -> None:
        """Add the declared flags, ``--params`` and the settings' flags to `parser`; parsing it selects `run`."""
        for param in self.arguments:
            keywords: dict[str, Any] = {"required": param.required, "help": param.help}
            if param.role == "option":
                keywords.update(param.keywords)
            else:
                keywords["type"] = InputPath if param.role == "in" else OutputPath
            if param.repeat:
                keywords["action"] = "append"
            parser.add_argument(param.flag, **keywords)
        add_params_argument(parser, default=self.params_default, help=self.params_help)
        if self.settings is not None:
            add_settings_arguments(
                parser.add_argument_group(f"settings (params section `{self.settings.SECTION}`)"), self.settings)
        parser.set_defaults(func=self.run, **{SPEC_DEST: self})

    def register(self, subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
        """Add the stage's (last) command word to `subparsers` with its arguments; the new parser."""
        parser = subparsers.add_parser(self.command[-1], help=self.help, description=self.description or self.help)
        self.add_arguments(parser)
        return parser

    def parser(self) -> argparse.ArgumentParser:
        """A parser of the stage's arguments alone (what follows the command words), as `filo` parses them."""
        parser = argparse.ArgumentParser(prog=f"filo {self.name}", description=self.description or self.help)
        self.add_arguments(parser)
        return parser

    def values(self, args: argparse.Namespace) -> dict[str, Any]:
        """The declared arguments of a parsed command, by name (None when not given)."""
        return {param.name: getattr(args, param.name) for param in self.arguments}

    def run(self, args: argparse.Namespace) -> int | None:
        """Call the function with the parsed arguments and the settings from ``--params`` and the flags."""
        values = self.values(args)
        self._check_groups({name: value for name, value in values.items() if value is not None})
        keywords: dict[str, Any] = dict(values)
        if self.settings is not None:
            keywords["settings"] = settings_from_args(args, self.settings)
        if self.params_file:
            keywords["params_file"] = args.params
        result = self.function(**keywords)
        return result if isinstance(result, int) and not isinstance(result, bool) else None

    def _check_groups(self, given: Mapping[str, Any]) -> None:
        """A FiloError unless each group's members are given together, equally many times (see `Param.group`)."""
        groups: dict[str, list[Param]] = {}
        for param in self.arguments:
            if param.group is not None:
                groups.setdefault(param.group, []).append(param)
        for group, members in groups.items():
            present = [param for param in members if param.name in given]
            counts = {param.flag: len(given[param.name]) for param in present}
            missing = [param.flag for param in members if param not in present and not param.group_optional]
            if present and (missing or len(set(counts.values())) > 1):
                raise FiloError(f"give {', '.join(param.flag for param in members)} once per {group}, in the same "
                                "order; got " + ", ".join(f"{counts.get(param.flag, 0)} {param.flag}"
                                                          for param in members))

    # -- the DAG ------------------------------------------------------------------------------------------

    def bind(self, **values: Any) -> Binding:
        """The stage with these values (paths as the command line gives them); TypeError for an undeclared name
        or a missing required one, FiloError when a group's members differ in length."""
        declared = {param.name: param for param in self.arguments}
        unknown = sorted(set(values) - set(declared))
        if unknown:
            raise TypeError(f"stage {self.name!r} declares no {unknown}; its arguments: {sorted(declared)}")
        bound: dict[str, Any] = {}
        for name, value in values.items():
            param = declared[name]
            if param.repeat:
                if isinstance(value, (str, Path)) or not isinstance(value, Sequence):
                    raise TypeError(f"stage {self.name!r}: {name} is repeated; bind a list, got {value!r}")
                if value:
                    bound[name] = tuple(str(item) for item in value)
            elif param.switch:
                if value:
                    bound[name] = True
            elif value is not None:
                bound[name] = str(value)
        missing = [param.name for param in self.arguments if param.required and param.name not in bound]
        if missing:
            raise TypeError(f"stage {self.name!r} requires {missing}")
        self._check_groups(bound)
        return Binding(self, bound)

    # -- the run record -----------------------------------------------------------------------------------

    def records(
        self, values: Mapping[str, Any], params_file: str | Path | None
    ) -> tuple[dict[str, list[Path]], dict[str, list[Path]], frozenset[str]]:
        """(inputs, outputs, dataset inputs' names) of a run with `values` (see `recorded`)."""
        def paths(role: Role) -> dict[str, list[Path]]:
            found: dict[str, list[Path]] = {}
            for param in self.arguments:
                value = values.get(param.name)
                if param.role == role and value is not None:
                    found[param.name] = [Path(item) for item in (value if param.repeat else [value])]
            return found

        inputs = paths("in")
        if params_file is not None:
            inputs["params"] = [Path(params_file)]
        datasets = frozenset(param.name for param in self.arguments if param.dataset)
        return inputs, paths("out"), datasets

    def recorded(self, stage: str, values: Mapping[str, Any], params_file: str | Path | None,
                 settings: Callable[[], list[Any]]) -> contextlib.AbstractContextManager:
        """The MLflow run recording one execution of this stage as pipeline stage `stage` (`tracking.stage_run`).

        `values`: the declared arguments by name (paths as given); `settings` is called after the
        block for the settings objects the run loaded.
        """
        from filo.tracking import stage_run

        inputs, outputs, datasets = self.records(values, params_file)
        return stage_run(stage, self.name, inputs=inputs, outputs=outputs, datasets=datasets, settings=settings)


@dataclass(frozen=True)
class Binding:
    """A stage with its values bound (`StageSpec.bind`): a command line, its paths by role and by name."""

    spec: StageSpec
    values: Mapping[str, Any]
    """Declared name -> its value (a tuple for a repeated argument, True for a switch); only those given."""

    def _arguments(self) -> Iterator[tuple[Param, Any]]:
        """(argument, one value) in command-line order: declaration order, each group's members interleaved."""
        done: set[str] = set()
        for param in self.spec.arguments:
            if param.name not in self.values or param.group in done:
                continue
            if param.group is not None:
                done.add(param.group)
                members = [other for other in self.spec.arguments
                           if other.group == param.group and other.name in self.values]
                for index in range(len(self.values[param.name])):
                    for member in members:
                        yield member, self.values[member.name][index]
            elif param.repeat:
                for value in self.values[param.name]:
                    yield param, value
            else:
                yield param, self.values[param.name]

    def argv(self, root: Path | None = None, params_file: str | Path = "params.yaml") -> list[str]:
        """The command line after `filo`, with paths under `root` when given (a Prefect flow's run folder)."""
        words = [*self.spec.command, "--params", str(params_file)]
        for param, value in self._arguments():
            if param.switch:
                words.append(param.flag)
            else:
                words += [param.flag, str(Path(root) / value) if root is not None and param.role != "option"
                          else value]
        return words

    def paths(self, role: Role) -> list[str]:
        """The paths of one role ("in" or "out"), in command-line order."""
        return [value for param, value in self._arguments() if param.role == role]

    def path(self, name: str, root: Path) -> Path:
        """The path bound to the non-repeated `name`, under `root`."""
        return Path(root) / self.values[name]

    def under(self, root: Path) -> dict[str, Any]:
        """Every declared argument by name as the function receives it: paths under `root`, None when not bound."""
        found: dict[str, Any] = {}
        for param in self.spec.arguments:
            value = self.values.get(param.name, False if param.switch else None)
            if value is None or param.role == "option":
                found[param.name] = value
            elif param.repeat:
                found[param.name] = [Path(root) / item for item in value]
            else:
                found[param.name] = Path(root) / value
        return found
