"""`filo doctor`: preflight of a profile's run; lists each missing input and how to obtain it.

The pipeline's first stage (`--out`: the record of a passed preflight) and a command to
type before a paper run. Fails (exit 2) when the run cannot succeed, exit 0 when every
input is in place. Each check lives with the package that owns the stage whose inputs it
checks, `filo.doctor` runs them, their strictness is its settings (params section `doctor`).
`PREFLIGHT` declares the stage (`filo.stagespec`), beside the function it runs.
"""

from __future__ import annotations

from pathlib import Path

from filo.doctor import DEFAULT_PARAMS, DoctorSettings, checked_settings
from filo.stagespec import StageSpec, path_out


def doctor(*, out: Path | None, settings: DoctorSettings, params_file: Path) -> int:
    """Run the checks and print the report (exit code 0 or 2); with `out`, record a passed preflight there."""
    from filo.doctor import exit_code, format_report, preflight_stage, run_doctor

    if out is not None:
        preflight_stage(params_file, settings, out)
        return 0
    findings = run_doctor(params_file, settings)
    print(format_report(findings))
    return exit_code(findings)


PREFLIGHT = StageSpec(
    ("doctor",), doctor, DoctorSettings,
    (path_out("out", "as a pipeline stage: write the record of a passed preflight here (JSON)"),),
    reads=checked_settings, params_file=True, params_default=DEFAULT_PARAMS,
    params_help="the profile's params file (default: profiles/paper/params.yaml); its sections datasets, data, "
    "describe, detector and train say what the run needs, doctor how strict to be",
    help="check, before a run, that every input is in place; say how to get what is missing",
    description=__doc__.split("\n\n")[1],
)
"""`filo doctor`: the preflight stage."""

register = PREFLIGHT.register
"""Add the `doctor` subcommand."""
