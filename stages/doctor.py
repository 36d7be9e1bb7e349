"""`filo doctor`: preflight of a profile's run; lists each missing input and how to obtain it.

The pipeline's first stage (`--out`: the record of a passed preflight) and a command to
type before a paper run. Fails (exit 2) when the run cannot succeed, exit 0 when every
input is in place. Each check lives with the package that owns the stage whose inputs it
checks, `filo.doctor` runs them, their strictness is its settings (params section `doctor`);
this module only parses the command line.
"""

from __future__ import annotations

import argparse

from filo.doctor import DEFAULT_PARAMS, DoctorSettings, exit_code, format_report
from filo.settings import InputPath, OutputPath, add_settings_arguments, settings_from_args


def run(args: argparse.Namespace) -> int:
    """CLI entry: run the checks and print the report; with --out, record a passed preflight there."""
    from filo.doctor import preflight_stage, run_doctor

    settings = settings_from_args(args, DoctorSettings)
    if args.out is not None:
        preflight_stage(args.params, settings, args.out)
        return 0
    findings = run_doctor(args.params, settings)
    print(format_report(findings))
    return exit_code(findings)


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the `doctor` subcommand (settings: params section `doctor`, every field also a flag)."""
    parser = subparsers.add_parser(
        "doctor",
        help="check, before a run, that every input is in place; say how to get what is missing",
        description=__doc__.split("\n\n", 1)[1],
    )
    parser.add_argument("--params", type=InputPath, metavar="FILE", default=InputPath(DEFAULT_PARAMS),
                        help="the profile's params file (default: profiles/paper/params.yaml); its sections "
                        "datasets, data, describe, detector and train say what the run needs, doctor how strict to be")
    parser.add_argument("--out", type=OutputPath,
                        help="as a pipeline stage: write the record of a passed preflight here (JSON)")
    add_settings_arguments(parser.add_argument_group("preflight settings (params section `doctor`)"), DoctorSettings)
    parser.set_defaults(func=run)
