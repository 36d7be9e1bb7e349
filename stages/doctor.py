"""`filo doctor`: preflight of a paper-profile run; lists each missing input and how to obtain it.

Exits 1 when the run cannot succeed, 0 when every input is in place. The checks and their
defaults live in `filo.doctor.DoctorSettings`; this module only parses the command line.
"""

from __future__ import annotations

import argparse
import dataclasses
from pathlib import Path


def run(args: argparse.Namespace) -> int:
    """CLI entry: run the checks, print the report, exit 1 on a blocking problem."""
    from filo.doctor import DoctorSettings, exit_code, format_report, run_doctor

    fields = {field.name for field in dataclasses.fields(DoctorSettings)}
    given = {key: value for key, value in vars(args).items() if key in fields and value is not None}
    findings = run_doctor(DoctorSettings(**given))
    print(format_report(findings))
    return exit_code(findings)


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the `doctor` subcommand (unset options keep DoctorSettings' defaults)."""
    parser = subparsers.add_parser(
        "doctor",
        help="check, before a paper run, that every input is in place; say how to get what is missing",
        description=__doc__.split("\n\n", 1)[1],
    )
    parser.add_argument("--params", type=Path, help="the profile's params file (default: profiles/paper/params.yaml)")
    parser.add_argument("--data-root", type=Path, help="dataset root of `filo data download` (default: data/raw)")
    parser.add_argument("--headroom-gib", type=float, help="free space needed beyond the datasets (default: 10)")
    parser.add_argument("--allow-cpu", action="store_true", default=None, help="accept a machine without a CUDA GPU")
    parser.add_argument("--cost-table", type=Path, help="JSON cost table (default: benchmarks/paper_cost.json)")
    parser.add_argument("--url-timeout-s", type=float, help="seconds to wait for a URL (default: 10)")
    parser.set_defaults(func=run)

