"""The scheduled deployment that `python -m filo.pipelines.serve` serves."""

from __future__ import annotations

from pathlib import Path

from filo.pipelines.serve import DEFAULT_CRON, build_deployment, flow_parameters, parse_args


def test_the_deployment_runs_the_pipeline_flow_on_the_cron_schedule():
    deployment = build_deployment(name="hourly", cron="0 * * * *", timezone="Europe/Paris",
                                  parameters={"shards": 4})

    assert deployment.name == "hourly"
    assert deployment.entrypoint == "filo.pipelines.flows.filo_pipeline"
    [schedule] = deployment.schedules
    assert (schedule.schedule.cron, schedule.schedule.timezone) == ("0 * * * *", "Europe/Paris")
    assert deployment.parameters == {"shards": 4}
    assert deployment.concurrency_limit == 1


def test_the_command_line_defaults_to_a_nightly_demo_run_with_absolute_paths(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    args = parse_args([])

    assert args.cron == DEFAULT_CRON
    assert flow_parameters(args) == {
        "params_file": str(tmp_path / "params.yaml"),
        "root": str(tmp_path / "runs" / "prefect"),
        "shards": 2,
        "workers": 2,
    }


def test_the_command_line_passes_cluster_fan_out_and_registration_settings(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    args = parse_args(["--cron", "30 1 * * 1", "--shards", "8", "--dask-address", "tcp://sched:8786",
                       "--params-file", "conf/p.yaml", "--no-register"])

    parameters = flow_parameters(args)
    assert args.cron == "30 1 * * 1"
    assert parameters["shards"] == 8
    assert parameters["dask_address"] == "tcp://sched:8786"
    assert parameters["register_model"] is False
    assert Path(parameters["params_file"]) == tmp_path / "conf" / "p.yaml"
