"""Prefect flows that run the filo stages: the whole pipeline (`flows`), Dask fan-out of box
extraction and evaluation (`fanout`), and the cron deployment (`python -m filo.pipelines.serve`).
See pipelines/README.md."""
